"""Run the notification service: ``python -m services.notification``."""

from services.notification.service import SPEC
from services.process import main

if __name__ == "__main__":
    main(SPEC)
