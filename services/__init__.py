"""laborcase services: intake, mediation, legal_aid, followup, supervision, the console, and their backbone."""
