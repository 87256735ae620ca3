"""Run the mediation service: ``python -m services.mediation``."""

from services.mediation.service import SPEC
from services.process import main

if __name__ == "__main__":
    main(SPEC)
