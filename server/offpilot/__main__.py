from offpilot.cli import main

raise SystemExit(main())
