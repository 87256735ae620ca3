"""Mediation ("法院+工会" 诉调对接): mediators, sessions, settlement, judicial confirmation."""
