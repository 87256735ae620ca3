"""Run the intake service: ``python -m services.intake``."""

from services.intake.service import SPEC
from services.process import main

if __name__ == "__main__":
    main(SPEC)
