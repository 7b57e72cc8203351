-- Argo CD health check for velero.io/Backup (argocd-cm key resource.customizations.health.velero.io_Backup).
--
-- Why it exists: a hook whose kind has no health check counts as done the moment it is created, so without
-- this script the PreSync backup of sluice would not hold the sync until Velero has finished.
-- Healthy only on Completed (a restore point exists); Degraded on every phase that will never become one,
-- which fails the PreSync phase and so the sync; Progressing while Velero works (and before it has looked).
--
-- Runs in gopher-lua (Lua 5.1) with the standard libraries off: only syntax, `..`, `#` and the global `obj`.
-- No string.*, table.*, tostring, type, pairs or ipairs here. tests/it/install.rs runs it with an empty
-- environment in lua5.1 for every phase.

local hs = { status = "Progressing", message = "waiting for Velero to start the backup" }

local status = obj.status
if status == nil or status.phase == nil or status.phase == "" then
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
