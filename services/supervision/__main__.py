"""Run the supervision service: ``python -m services.supervision``."""

from services.process import main
from services.supervision.service import SPEC

if __name__ == "__main__":
    main(SPEC)
