from sovereval.cli.main import main

main()
