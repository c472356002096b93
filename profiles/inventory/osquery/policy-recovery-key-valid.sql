-- Fleet policy "FileVault recovery key valid": passes when the status is fresh (less than 48
-- hours old) and RecoveryKey.State is Valid: a key is present, escrowed and not used since it
-- last changed. Fails on Used, Missing, NotEscrowed, Unknown and on a stale or missing status.
SELECT 1 FROM plist
WHERE path = '/Library/Keywarden/status.plist'
GROUP BY path
HAVING MAX(key = 'GeneratedAt'
           AND CAST(value AS INTEGER) >= CAST(strftime('%s', 'now') AS INTEGER) - 48 * 3600) = 1
   AND MAX(key = 'RecoveryKey' AND subkey = 'State' AND value = 'Valid') = 1;
