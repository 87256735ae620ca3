"""Staffing shared by mediation and legal aid: choosing who takes a case (workload balancing)."""
