-- Fleet policy "Keywarden is reporting": passes (returns a row) when Keywarden wrote its status
-- less than 48 hours ago (the default StaleAfterHours). Fails when Keywarden is not installed,
-- not running, or cannot write its status.
SELECT 1 FROM plist
WHERE path = '/Library/Keywarden/status.plist'
GROUP BY path
HAVING MAX(key = 'GeneratedAt'
           AND CAST(value AS INTEGER) BETWEEN CAST(strftime('%s', 'now') AS INTEGER) - 48 * 3600
                                        AND CAST(strftime('%s', 'now') AS INTEGER) + 3600) = 1;
