-- A named feed's dedup key writes its source's colon as '/' ('feed/kobo:17'),
-- so that it can no longer equal an unnamed feed's key for an id holding a
-- colon ('feed' + 'kobo:17'). Keys already stored follow, so that a retry
-- of a report stored before is still recognised.
UPDATE reports
SET dedup_key = 'feed/' || substr(dedup_key, 6)
WHERE source LIKE 'feed:%' AND dedup_key LIKE 'feed:%';
