"""Run the intake service: ``python -m services.intake``."""

from services.backbone.runtime import main
from services.intake.service import SPEC

if __name__ == "__main__":
    main(SPEC)
