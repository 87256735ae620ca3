"""Run the followup service: ``python -m services.followup``."""

from services.followup.service import SPEC
from services.process import main

if __name__ == "__main__":
    main(SPEC)
