from blockfsm.adapters.commands.cli import main

main()
