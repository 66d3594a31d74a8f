"""One module per `unlearn-harness` subcommand: `add_arguments(parser)` and `main(args) -> int`."""
