from hardnut.cli import main

main()
