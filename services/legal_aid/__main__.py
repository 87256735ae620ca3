"""Run the legal_aid service: ``python -m services.legal_aid``."""

from services.legal_aid.service import SPEC
from services.process import main

if __name__ == "__main__":
    main(SPEC)
