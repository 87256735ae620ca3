-- The working-day calendar, per year and version (the latest version of a year is in force).
CREATE TABLE calendar_years (
    year      integer     NOT NULL,
    version   integer     NOT NULL,
    source    text        NOT NULL,
    holidays  date[]      NOT NULL,
    workdays  date[]      NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (year, version)
);

-- Years an operator was alerted about (deadlines computed Mon–Fri, provisional), once per year.
CREATE TABLE calendar_alerts (
    year        integer PRIMARY KEY,
    detected_at timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);
