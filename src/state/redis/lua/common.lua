-- Prelude of every room and user script (scripts.rs puts it first).

-- Appends without unpack(), which fails on long lists.
local function append(out, items)
  for i = 1, #items do
    out[#out + 1] = items[i]
  end
  return out
end

-- Adds counted lists from ARGV to sets: from ARGV[pos] on, for each key
-- a count n then n members. Returns the position after the last list.
local function add_counted(pos, keys)
  for _, key in ipairs(keys) do
    local n = tonumber(ARGV[pos])
    for i = pos + 1, pos + n do
      redis.call('SADD', key, ARGV[i])
    end
    pos = pos + n + 1
  end
  return pos
end

