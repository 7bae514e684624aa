"""The lab: what runs the hotline for tests, demos and benchmarks, never in production.

    sandbox.py          a debootstrapped Asterisk 22 root of the project's own
    provision.py        that sandbox brought up for a hotline configuration
    agi_mounts.py       bind mounts that let the sandbox run the process-per-call AGI script
    sipp.py             SIPp callers, seats and load runs
    sipp_scenario.py    scenario XML, DTMF pcaps, SIPp's logs parsed
    sipp_customers.py   SIPp customers for the callback dialer (answer, busy, no answer)
    scenarios/          the SIPp scenario templates
    testing.py          helpers the tests share (a sandbox brought up for them)
    demo.py             synthetic traffic through the sandbox, the board alive
    bench/              benchmarks: ivr_load.py, media.py, calllog.py, writer.py, fastagi.py,
                        dialer.py, cases.py, speech.py

The product (`ivr`, `web`, `agi_scripts`) never imports this package; the
command line (`cli`) and the tests do.
"""
