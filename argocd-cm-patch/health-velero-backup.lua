-- Argo CD health check for velero.io/Backup (argocd-cm key resource.customizations.health.velero.io_Backup).
--
-- Why it exists: a hook whose kind has no health check counts as done the moment it is created, so without
-- this script the PreSync backup of sluice would not hold the sync until Velero has finished.
-- Healthy only on Completed (a restore point exists); Degraded on every phase that will never become one,
-- which fails the PreSync phase and so the sync; Progressing while Velero works (and before it has looked).
-- A Backup that still has no status STATUS_TIMEOUT seconds after its creation (default 600; the annotation
-- sluice.io/status-timeout-seconds overrides it, from backup.statusTimeout of .sluice.yaml) turns Degraded,
-- naming Velero: it is not installed, not running or not watching this namespace, and the sync would wait
-- for ever (docs/troubleshooting.md).
--
-- The sandbox (Argo CD util/lua/lua.go, runLuaWithResourceActionParameters): gopher-lua (Lua 5.1) with
-- SkipOpenLibs, then only the base library (tostring, tonumber, type, pairs, ipairs, pcall, ...), table, and
-- a safe os with only time and date, reachable as require("os") (the global `os` is not set); no string
-- library (no string.*, no s:sub()), no io; one second per run. Unless
-- resource.customizations.useOpenLibs.velero.io_Backup is set, which this kit does not do.
-- tests/it/install.rs runs it in lua5.1 in exactly that environment, with a fake clock.

local STATUS_TIMEOUT = 600

local hs = { status = "Progressing", message = "waiting for Velero to start the backup" }

-- The bound in seconds: the annotation when it is a positive number, else the default.
local function status_timeout()
  local annotations = obj.metadata and obj.metadata.annotations
  local value = annotations and tonumber(annotations["sluice.io/status-timeout-seconds"])
  if value ~= nil and value > 0 then
    return value
  end
  return STATUS_TIMEOUT
end

-- Whether `created` (RFC 3339 UTC, as Kubernetes writes creationTimestamp) lies more than `bound` seconds in
-- the past. Without a string library the timestamp cannot be taken apart, so the instant `bound` seconds ago
-- is written in the same format and the two strings are compared (they sort as the instants do).
-- os.date(fmt, t) writes t in the controller's local zone (Argo CD's os.date ignores "!" when t is given), so
-- the local offset is found first: the quarter hour k at which local(now + k) reads what UTC reads now.
local function older_than(created, bound)
  if type(created) ~= "string" or created == "" then
    return false
  end
  local ok, os = pcall(require, "os")
  if not ok or type(os) ~= "table" or os.time == nil or os.date == nil then
    return false
  end
  for _ = 1, 2 do -- a second try when the minute turned between the two clock readings
    local utc_now = os.date("!%Y-%m-%dT%H:%M")
    local now = os.time()
    for q = 0, 112 do
      local shift = q * 900
      if q > 56 then
        shift = (56 - q) * 900
      end
      if os.date("%Y-%m-%dT%H:%M", now + shift) == utc_now then
        return created < os.date("%Y-%m-%dT%H:%M:%SZ", now + shift - bound)
      end
    end
  end
  return false
end

local status = obj.status
if status == nil or status.phase == nil or status.phase == "" then
  local bound = status_timeout()
  local created = obj.metadata and obj.metadata.creationTimestamp
  if older_than(created, bound) then
    local namespace = (obj.metadata and obj.metadata.namespace) or "velero"
    hs.status = "Degraded"
    local after = bound .. " seconds"
    if bound % 60 == 0 then
      after = (bound / 60) .. " minutes"
    end
    hs.message = "Velero has not picked up this backup " .. after .. " after its creation ("
      .. created .. "): is Velero installed and running, watching namespace " .. namespace
      .. "? Check: kubectl -n " .. namespace .. " get deploy/velero; fix Velero and sync again,"
      .. " or set backup.enabled: false in .sluice.yaml to sync without a backup"
  end
  return hs
end
local phase = status.phase

-- Appends failureReason and validationErrors (when present) to a message.
local function details(message)
  if status.failureReason ~= nil and status.failureReason ~= "" then
    message = message .. ": " .. status.failureReason
  end
  local errs = status.validationErrors
  if errs ~= nil and #errs > 0 then
    local joined = errs[1]
    local i = 2
    while errs[i] ~= nil do
      joined = joined .. "; " .. errs[i]
      i = i + 1
    end
    message = message .. " (validation errors: " .. joined .. ")"
  end
  return message
end

-- A count Velero reported, if any. Argo CD hands JSON numbers to Lua as numbers, or as strings when the object
-- was decoded with json.Number (util/lua decodeValue): accept both.
local function nonzero(count)
  return count ~= nil and count ~= 0 and count ~= "0" and count ~= ""
end

-- Counts Velero reports for a partial failure, and where to read the details.
local function counts(message)
  if nonzero(status.errors) then
    message = message .. "; " .. status.errors .. " error(s)"
  end
  if nonzero(status.warnings) then
    message = message .. "; " .. status.warnings .. " warning(s)"
  end
  local name = obj.metadata and obj.metadata.name
  if name ~= nil then
    message = message .. "; see: velero backup describe " .. name .. " --details"
  end
  return message
end

if phase == "Completed" then
  hs.status = "Healthy"
  hs.message = "backup completed"
  if status.progress ~= nil and status.progress.itemsBackedUp ~= nil then
    hs.message = hs.message .. ": " .. status.progress.itemsBackedUp .. " items backed up"
  end
  return hs
end

if phase == "Failed" or phase == "FailedValidation" then
  hs.status = "Degraded"
  hs.message = counts(details("backup " .. phase))
  return hs
end

if phase == "PartiallyFailed" or phase == "WaitingForPluginOperationsPartiallyFailed"
    or phase == "FinalizingPartiallyFailed" then
  -- Some items were not saved: not a restore point to change production on.
  hs.status = "Degraded"
  hs.message = counts(details("backup " .. phase))
  return hs
end

if phase == "Deleting" then
  -- A backup being deleted will never complete; waiting for it would hold the sync until someone aborts it.
  hs.status = "Degraded"
  hs.message = "backup is being deleted and cannot serve as a restore point"
  return hs
end

-- New, Queued, ReadyToStart, InProgress, WaitingForPluginOperations, Finalizing, and any phase a later Velero
-- adds: still working.
hs.message = "backup " .. phase
if phase == "InProgress" and status.progress ~= nil and status.progress.totalItems ~= nil
    and status.progress.itemsBackedUp ~= nil then
  hs.message = hs.message .. ": " .. status.progress.itemsBackedUp .. "/" .. status.progress.totalItems .. " items"
end
return hs
