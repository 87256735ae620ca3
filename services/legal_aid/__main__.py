"""Run the legal_aid service: ``python -m services.legal_aid``."""

from services.backbone.runtime import main
from services.legal_aid.service import SPEC

if __name__ == "__main__":
    main(SPEC)
