"""Legal aid (法律援助): eligibility, lawyers, representation, money recovered."""
