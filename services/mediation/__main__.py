"""Run the mediation service: ``python -m services.mediation``."""

from services.backbone.runtime import main
from services.mediation.service import SPEC

if __name__ == "__main__":
    main(SPEC)
