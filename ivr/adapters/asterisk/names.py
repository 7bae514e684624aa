"""Every telephony name shared by Python and the dialplan, in one place.

The dialplan templates in config/asterisk/ are rendered with these values, and
the FastAGI handlers set and read the same variables, so a rename happens here
once.
"""

# FastAGI routes (the path of agi://host:port/<route>).
ROUTE_HOTLINE = "hotline"  # the IVR: menu, routing decision, sets the route variables
ROUTE_OVERFLOW = "overflow"  # queue wait exceeded / nobody answered: callback or voicemail
ROUTE_CALLBACK = "callback"  # record the callback request, tell the caller when
ROUTE_SURVEY = "survey"  # the satisfaction survey after the seat hung up

# Dialplan contexts.
CONTEXT_INBOUND = "hotline-inbound"  # PJSIP 'anonymous' endpoint lands here
CONTEXT_FALLBACK = "hotline-fallback"  # FastAGI down or failed: never silence
CONTEXT_ROUTE_PREFIX = "hotline-route-"  # + route kind: seat, queue, voicemail, ...
CONTEXT_SEATS = "hotline-seats"  # context of the authenticated seat endpoints
CONTEXT_TWILIO = "hotline-twilio"  # Twilio's <Dial><Sip> legs: sip:<seat>@ and sip:queue-<branch>@
# The PJSIP endpoint of those legs, identified by Twilio's networks only: a channel
# PJSIP/twilio-<n> came from Twilio, with Twilio's caller ID (ivr.phone.twilio_caller).
ENDPOINT_TWILIO = "twilio"
CONTEXT_SHED = "hotline-shed"  # over the admission limit: "all lines are busy", hang up
CONTEXT_TRUNK = "hotline-trunk"  # requests a SIP trunk's endpoint is matched for: refused
TRUNK_ENDPOINT_PREFIX = "trunk-"  # routing.yaml trunk <name> is the PJSIP endpoint trunk-<name>
# The survey after an answered call. Under the route prefix on purpose: the AMI
# listener records the caller's Hangup only in hotline contexts (ami.translate).
CONTEXT_SURVEY = CONTEXT_ROUTE_PREFIX + "survey"
# The fallback journal (ivr/adapters/asterisk/journal.py): the hangup handler the
# fallback context pushes (under the route prefix, so the caller's AMI Hangup stays
# in a hotline context whatever the handler leaves behind; a route kind is a-z
# only, so no route can reach it), and the Gosub Queue() runs on the operator's
# channel once it answers.
CONTEXT_FALLBACK_END = CONTEXT_ROUTE_PREFIX + "fallback-end"
CONTEXT_FALLBACK_ANSWERED = "hotline-fallback-answered"

# Channel variables set by the FastAGI handler, read by the dialplan.
VAR_CALL_ID = "HOTLINE_CALL_ID"
# seat | queue | voicemail | callback | emergency | rota | external | hangup
VAR_ROUTE_KIND = "HOTLINE_ROUTE_KIND"
# PJSIP/<seat> for seat, queue name for queue/emergency, rota name for rota (the call
# waits in HOTLINE_QUEUE), <E.164>@<trunk> for external
VAR_ROUTE_TARGET = "HOTLINE_ROUTE_TARGET"
# The outside leg being dialled (<E.164>@<trunk>): an overflow after it says so.
VAR_EXTERNAL = "HOTLINE_EXTERNAL"
VAR_QUEUE = "HOTLINE_QUEUE"  # queue to fall back to when a chosen seat does not answer
VAR_PRIORITY = "HOTLINE_PRIORITY"  # queue priority (copied into QUEUE_PRIO by the dialplan)
VAR_MAX_WAIT = "HOTLINE_MAX_WAIT"  # seconds in queue before overflow
VAR_RING_SECONDS = "HOTLINE_RING_SECONDS"  # ring time for a chosen seat
VAR_OVERFLOW = "HOTLINE_OVERFLOW"  # callback | voicemail, after the queue gives up
VAR_LANGUAGE = "HOTLINE_LANG"  # zh-CN | en (prompt directory)
VAR_ARRIVED = "HOTLINE_ARRIVED"  # Unix time the call arrived (a callback keeps that place)
VAR_CALLBACK_NUMBER = "HOTLINE_CALLBACK_NUMBER"  # the number the caller confirmed or keyed
VAR_CALLBACK_AT = "HOTLINE_CALLBACK_AT"  # Unix time the callback is due; empty: refused
VAR_CALLBACK_TZ = "HOTLINE_CALLBACK_TZ"  # the caller's time zone, for saying that time
# The seat that answered (MEMBERINTERFACE after Queue, DIALEDPEERNAME after Dial),
# set by the dialplan for the survey; and the survey's outcome, set by the handler.
VAR_SURVEY_SEAT = "HOTLINE_SURVEY_SEAT"
VAR_SURVEY = "HOTLINE_SURVEY"  # scored | not_resolved | no_answer | left | "" (none)
VAR_CASE_NO = "HOTLINE_CASE_NO"  # the case an after-hours complaint opened; empty: none
VAR_CASE_PROMPTS = "HOTLINE_CASE_PROMPTS"  # its number as digit prompts, '&'-joined for Playback
# Asterisk's Unix time (with microseconds) the caller entered the hotline, set first
# thing, before Answer. manager.conf lists it in channelvars, so every AMI event of
# the channel carries it: with the event's Timestamp it gives the channel's age, and
# a Hangup alone yields a record with its true start.
VAR_ENTERED = "HOTLINE_ENTERED"

# Queues: one per routing branch (named after the branch), plus the operator queue
# used by the fallback context and the "operator" menu target.
QUEUE_OPERATOR = "operator"

# Sound files live under <asterisk sounds>/hotline/<lang>/<prompt>.
SOUNDS_SUBDIR = "hotline"

# The account code of every call that entered the hotline (set in the first priority
# of the inbound context, before Answer, so even a caller gone within Answer's media
# wait has it on the Hangup): the AMI listener records calls only for these, not
# for benchmark baseline calls or the dialer's outbound legs.
ACCOUNTCODE_INBOUND = "hotline-in"
# The account code of a call turned away by admission control (CONTEXT_SHED sets
# it): its AMI Hangup makes a record with the outcome "shed".
ACCOUNTCODE_SHED = "hotline-shed"

# A Twilio leg (CONTEXT_TWILIO) carries its CallSid in its account code: every AMI
# event of the channel then names the Twilio call, so the seat that answers is put
# on that call's record (source twilio), and the leg makes no record of its own.
ACCOUNTCODE_TWILIO_PREFIX = "tw-"

# Admission control: every caller channel joins GROUP(GROUP_CATEGORY)=GROUP_IN_IVR on
# entry and moves to GROUP_ROUTED once the IVR has decided, so Asterisk's own
# GROUP_COUNT is the number of callers in the IVR at once, counted without a
# round trip to the hotline (which, overloaded, is the thing to spare).
GROUP_CATEGORY = "hotline"
GROUP_IN_IVR = "ivr"
GROUP_ROUTED = "routed"
# The limit itself is a dialplan global (set from admission.max_in_ivr), so an
# operator can change it on a running Asterisk: dialplan set global <name> <n>.
GLOBAL_MAX_IN_IVR = "HOTLINE_MAX_IN_IVR"
# Callers turned away who still hear "all lines are busy" at once (admission.max_told_busy);
# past it a caller turned away is refused before answer (SIP 503): no media at all.
GLOBAL_MAX_TOLD_BUSY = "HOTLINE_MAX_TOLD_BUSY"
GROUP_SHED = "shed"

# AMI UserEvent emitted by the fallback context so the call is logged without FastAGI.
USEREVENT_FALLBACK = "HotlineFallback"
# ... and when the operator queue gave up and the caller goes on to voicemail.
USEREVENT_FALLBACK_VOICEMAIL = "HotlineFallbackVoicemail"

# The fallback journal: one line per event, fields split by JOURNAL_SEPARATOR, the
# first naming the event (ivr/adapters/asterisk/journal.py reads them back).
JOURNAL_SEPARATOR = "|"
JOURNAL_START = "S"  # entered the fallback context
JOURNAL_VOICEMAIL = "V"  # the operator queue gave up: voicemail
JOURNAL_ANSWERED = "A"  # an operator answered (on the operator's channel)
JOURNAL_END = "E"  # the caller's channel hung up (its hangup handler)
JOURNAL_CALLER_HUNG_UP = "caller"  # the end's hang-up side: the caller's own channel
JOURNAL_SYSTEM_HUNG_UP = "system"  # ... anything else (the dialplan, a seat)

# The only AMI events the hotline's user receives (manager.conf eventfilter, by
# name: Asterisk matches them by hash, not regex). Everything else in the
# permitted classes (Newchannel, Newstate, DTMF, ...) is a dozen events per call
# that the listener would parse only to drop: under load that parsing took
# CPU from the FastAGI event loop. Action responses are not events: they pass.
AMI_EVENTS = (
    "Hangup",  # call ended (call-log completion)
    "DialEnd",  # a seat answered a dialled call
    "AgentConnect",  # a queue member answered
    "DeviceStateChange",  # seat states (routing, board, dialer pacing)
    "UserEvent",  # fallback context, dialer callback legs, self-tests
    "OriginateResponse",  # dialer: the agent leg failed
    "QueueCallerJoin",  # tests: a caller is waiting in a queue
)
