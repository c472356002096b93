-- Keywarden status: one row per Mac with Keywarden's headline fields (osquery `plist` table,
-- macOS only). No row when /Library/Keywarden/status.plist does not exist.
--
-- The plist table flattens a property list into rows (key, subkey, value, path): `key` is the
-- top-level key, `subkey` the path below it joined with "/" (RecoveryKey.State is key
-- 'RecoveryKey', subkey 'State'; each item of the top-level array Problems is a row with an empty
-- subkey). Booleans read '1'/'0' and dates read as Unix seconds: osquery renders every CF number,
-- booleans included, with -[NSNumber stringValue] and dates with timeIntervalSince1970
-- (osquery/utils/darwin/plist.mm). `stale` uses the default StaleAfterHours, 48: change
-- 48 * 3600 if you change StaleAfterHours. A status dated more than an hour in the future (a
-- clock that was wrong) is stale too.
SELECT
  MAX(CASE WHEN key = 'Healthy' THEN value END) AS healthy,
  GROUP_CONCAT(CASE WHEN key = 'Problems' AND value != '' THEN value END, ', ') AS problems,
  GROUP_CONCAT(CASE WHEN key = 'Warnings' AND value != '' THEN value END, ', ') AS warnings,
  MAX(CASE WHEN key = 'FileVault' AND subkey = 'State' THEN value END) AS filevault_state,
  MAX(CASE WHEN key = 'RecoveryKey' AND subkey = 'State' THEN value END) AS recovery_key_state,
  MAX(CASE WHEN key = 'RecoveryKey' AND subkey = 'LastUsedAt' THEN CAST(value AS INTEGER) END)
    AS recovery_key_last_used_at,
  MAX(CASE WHEN key = 'Escrow' AND subkey = 'State' THEN value END) AS escrow_state,
  MAX(CASE WHEN key = 'Rotation' AND subkey = 'State' THEN value END) AS rotation_state,
  MAX(CASE WHEN key = 'SecureToken' AND subkey = 'ConsoleUserHasToken' THEN value END)
    AS console_user_has_token,
  MAX(CASE WHEN key = 'BootstrapToken' AND subkey = 'Escrowed' THEN value END)
    AS bootstrap_token_escrowed,
  MAX(CASE WHEN key = 'Version' THEN value END) AS keywarden_version,
  MAX(CASE WHEN key = 'GeneratedAt' THEN CAST(value AS INTEGER) END) AS generated_at,
  COALESCE(
    MAX(CASE WHEN key = 'GeneratedAt' THEN CAST(value AS INTEGER) END)
      NOT BETWEEN CAST(strftime('%s', 'now') AS INTEGER) - 48 * 3600
              AND CAST(strftime('%s', 'now') AS INTEGER) + 3600,
    1) AS stale
FROM plist
WHERE path = '/Library/Keywarden/status.plist'
GROUP BY path;
