"""Run the followup service: ``python -m services.followup``."""

from services.backbone.runtime import main
from services.followup.service import SPEC

if __name__ == "__main__":
    main(SPEC)
