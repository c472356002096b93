-- Fleet policy "FileVault recovery key staged for escrow": passes when the status is fresh (less
-- than 48 hours old) and Escrow.State is Staged: the escrow payload is installed and the escrow
-- file for the current key is there for the MDM to collect.
SELECT 1 FROM plist
WHERE path = '/Library/Keywarden/status.plist'
GROUP BY path
HAVING MAX(key = 'GeneratedAt'
           AND CAST(value AS INTEGER) BETWEEN CAST(strftime('%s', 'now') AS INTEGER) - 48 * 3600
                                        AND CAST(strftime('%s', 'now') AS INTEGER) + 3600) = 1
   AND MAX(key = 'Escrow' AND subkey = 'State' AND value = 'Staged') = 1;
