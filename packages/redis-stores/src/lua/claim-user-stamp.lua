--[[
  Gives a user with no stamp a new one that expires (reply-cache.ts `claimUserStamp`), unless their history key
  holds an erasure's mark (live-state.ts `eraseUserLiveState`): while the mark is there no stamp of the user is
  written, so no answer is cached under one.
  Cluster: both keys carry the user's hash tag, so they share one slot.
  KEYS[1] user:{id}:stamp    string, set only when missing
  KEYS[2] user:{id}:history  string: the history's stored text (history-text.ts), or an erasure's mark
                             '~erased:…'; a list before
  ARGV[1] the new stamp   ARGV[2] its life (ms)
  Returns 1 set, 0 nothing written (a stamp is there, or an erasure's mark).
]]
--- @include "history-text"
-- A history of the layout before (a list) refuses GETRANGE: it is no mark.
if isErasureMark(redis.pcall('GETRANGE', KEYS[2], 0, 0)) then return 0 end
if redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return 1 end
return 0
