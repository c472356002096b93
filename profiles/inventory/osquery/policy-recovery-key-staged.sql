-- Fleet policy "FileVault recovery key staged and unused (Keywarden)": passes when the status is
-- fresh (less than 48 hours old) and RecoveryKey.State is Staged: a key is present, not used since
-- it last changed, and its escrow file is on disk for the MDM to collect. Keywarden cannot see the
-- MDM's copy: combine this policy with Fleet's own "verified" disk-encryption key status. Fails on
-- Used, Missing, NotEscrowed, Unknown and on a stale or missing status.
SELECT 1 FROM plist
WHERE path = '/Library/Keywarden/status.plist'
GROUP BY path
HAVING MAX(key = 'GeneratedAt'
           AND CAST(value AS INTEGER) BETWEEN CAST(strftime('%s', 'now') AS INTEGER) - 48 * 3600
                                        AND CAST(strftime('%s', 'now') AS INTEGER) + 3600) = 1
   AND MAX(key = 'RecoveryKey' AND subkey = 'State' AND value = 'Staged') = 1;
