-- Fleet policy "Keywarden: healthy": passes when the status is fresh (less than 48 hours old, the
-- default StaleAfterHours) and Healthy is true: nothing endangers recovery (warnings, the
-- hygiene codes in Warnings, do not fail it). osquery renders the boolean
-- as '1'; 'true' is accepted too.
SELECT 1 FROM plist
WHERE path = '/Library/Keywarden/status.plist'
GROUP BY path
HAVING MAX(key = 'GeneratedAt'
           AND CAST(value AS INTEGER) BETWEEN CAST(strftime('%s', 'now') AS INTEGER) - 48 * 3600
                                        AND CAST(strftime('%s', 'now') AS INTEGER) + 3600) = 1
   AND MAX(key = 'Healthy' AND value IN ('1', 'true')) = 1;
