"""``python -m gpf_flow`` runs the CLI."""

from gpf_flow.cli import main

if __name__ == "__main__":
    main()
