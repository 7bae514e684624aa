"""The `hotline` command: one parser (main.py), a module per group of subcommands.

    main.py            the parser, logging, exit codes; `hotline --version`
    common.py          what every group shares: the runtime, argument types
    config_cmds.py     check-config, simulate, config schema|explain
    service_cmds.py    up, serve, asterisk, agent, calls, call
    web_cmds.py        web, users, rollups, demo
    callback_cmds.py   dialer, callbacks
    backup_cmds.py     backup, restore
    bench_cmds.py      bench ivr | media | calllog | writer | fastagi | dialer | cases | speech

This package sits outside the product: it may start the lab (the sandbox
Asterisk, SIPp phones, the demo and the benchmarks); `ivr`, `web` and
`agi_scripts` never import it.
"""
