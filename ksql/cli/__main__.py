import sys

from ksql.cli.shell import main

sys.exit(main())
