-- What came of a held session (继续调解 / 达成一致 / 未能达成一致 / 当事人未到场); '' for sessions recorded before.
ALTER TABLE sessions ADD COLUMN result text NOT NULL DEFAULT '';
