from blockfsm.adapters.cli import main

main()
