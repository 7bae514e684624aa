"""Twilio: the same hotline through TwiML webhooks in and REST calls out.

state.py     the signed state carried in each webhook's action URL
twiml.py     TwiML from the menu's Ask and the router's Decision (pure)
voice.py     the webhooks' use of IvrSession: voice, gather, dial, status
calls.py     the dialer's REST backend (Calls API), with retries
signature.py X-Twilio-Signature against the public URL Twilio called
"""
