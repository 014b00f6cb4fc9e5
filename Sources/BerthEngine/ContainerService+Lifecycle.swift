#if canImport(Glibc)
import Glibc
#endif
import BerthExecutor
import BerthModels
import BerthStore
import BerthSystem
import Foundation

/// Start, exit, restart policies, stop, kill, remove, pause: every status change goes through
/// `ContainerLifecycle.transition` (in `apply`), and the service carries out the actions it returns.
extension ContainerService {
    // MARK: the state machine, applied

    /// What the state machine knows of a stored container.
    nonisolated func facts(_ c: ContainerRecord) -> ContainerLifecycle.Facts {
        let hc = decode(HostConfig.self, c.host_config)
        return ContainerLifecycle.Facts(id: c.id, name: c.name, status: ContainerStatus(stored: c.status),
                                        policy: (try? RestartRule(hc?.RestartPolicy)) ?? .none,
                                        restartCount: Int(c.restart_count), backoffMs: c.backoff_ms,
                                        manuallyStopped: c.manually_stopped, autoRemove: hc?.AutoRemove == true)
    }

    /// Checks that `event` is allowed now (Docker's error when it is not) without changing anything.
    nonisolated func check(_ c: ContainerRecord, _ event: ContainerLifecycle.Event) throws {
        _ = try ContainerLifecycle.transition(facts(c), event)
    }

    /// Runs `event` through the state machine and writes the new facts, with `update`, in one
    /// store transaction. Returns the outcome and the record as written.
    @discardableResult
    nonisolated func apply(_ id: String, _ event: ContainerLifecycle.Event,
               _ update: (inout ContainerRecord) -> Void = { _ in }) throws -> (ContainerLifecycle.Outcome, ContainerRecord) {
        var outcome: ContainerLifecycle.Outcome? = nil
        let written = try store.updateContainer(id) { r in
            let o = try ContainerLifecycle.transition(self.facts(r), event)
            r.status = o.facts.status.rawValue
            r.restart_count = Int64(o.facts.restartCount)
            r.backoff_ms = o.facts.backoffMs
            r.manually_stopped = o.facts.manuallyStopped
            update(&r)
            outcome = o
        }
        guard let outcome else { throw BerthError.system("container \(id): no state transition") }
        return (outcome, written)
    }

    // MARK: start

    public enum StartOutcome: Sendable { case started, alreadyRunning }

    public func start(_ ref: String) async throws -> StartOutcome {
        let c = try resolve(ref)
        return try await locks.with(c.id) {
            let (o, _) = try self.apply(c.id, .start)
            if o.actions.contains(.nothing) { return .alreadyRunning }
            await self.cancelRestartTimer(c.id)
            try await self.launch(c.id)
            return .started
        }
    }

    /// Starts the container's process (a user's start or a policy restart); under its lock.
    func launch(_ id: String) async throws {
        guard let c = try store.container(id) else { throw BerthError.notFound("No such container: \(id)") }
        guard let config = decode(ContainerConfig.self, c.config), let hc = decode(HostConfig.self, c.host_config) else {
            throw BerthError.system("container \(id) has an unreadable configuration")
        }
        var spec = try ContainerSpecs.make(id: id, name: c.name, config: config, hostConfig: hc,
                                           layers: try images.layerPaths(c.image_id), logDefaults: logDefaults)
        let generation = c.run_generation + 1
        do {
            try applyMounts(id, to: &spec)
            // prepare: the container's network namespace and interfaces come before its process
            let plan = try await networks.prepare(c, hc, config)
            ContainerSpecs.apply(plan, to: &spec)
            let hooks = StartHooks(created: { pid, monitorPid in
                _ = try? self.apply(id, .launched) { r in
                    r.pid = Int64(pid); r.monitor_pid = Int64(monitorPid)
                    r.started_at = Timestamp.nowNanos(); r.finished_at = 0; r.exit_code = 0; r.error = ""
                    r.oom_killed = false; r.run_generation = generation; r.restart_at = 0
                }
                await self.connectPendingAttachers(id)
            })
            _ = try await runtime.start(spec, hooks: hooks)
            emit("start", c)
            startHealth(id, fresh: true)
        } catch {
            if networks.needsTeardown(id) { await networks.teardown(id) }
            let e = BerthError.wrap(error)
            let code = Executor.exitCode(forStartError: e.message)
            let outcome = try? apply(id, .launchFailed) { r in
                r.exit_code = Int64(code); r.error = e.message; r.pid = 0; r.restart_at = 0
            }
            failPendingAttachers(id)
            resumeExitWaiters(id, ExitInfo(code: code, error: e.message), final: true)
            if outcome?.0.actions.contains(.autoRemove) == true { try? await removeLocked(id, volumes: true) }
            throw e
        }
    }

    // MARK: exit and restart

    /// Called when the monitor wrote an exit file (inotify) and by reconciliation.
    public func handleExit(_ id: String) async {
        guard let c = try? store.container(id), ContainerStatus(stored: c.status).hasProcess else { return }
        guard let st = runtime.exitStatus(id) else { return }
        await recordExit(c, code: Int(st.code), oom: st.oom, at: st.at, error: nil)
    }

    /// Writes an exit through the state machine and carries out what follows: events, waiters,
    /// teardown, a scheduled restart or the AutoRemove.
    func recordExit(_ c: ContainerRecord, code: Int, oom: Bool, at: Int64, error: String?) async {
        let ranFor = max(0, (at - c.started_at) / 1_000_000)
        guard let (o, rec) = try? apply(c.id, .exited(code: code, ranForMs: ranFor), { r in
            r.exit_code = Int64(code); r.oom_killed = oom; r.finished_at = at; r.pid = 0
            if let error { r.error = error }
        }), !o.actions.isEmpty else { return }
        stopHealth(c.id)
        if oom { emit("oom", c) }
        if o.actions.contains(.emit("die")) { emit("die", c, ["exitCode": String(code)]) }
        let restarting = ContainerStatus(stored: rec.status) == .restarting
        resumeExitWaiters(c.id, ExitInfo(code: code, error: error), final: !restarting)
        let gen = c.run_generation
        Task { try? await self.locks.with(c.id) { await self.afterExit(c.id, generation: gen, actions: o.actions) } }
    }

    func afterExit(_ id: String, generation: Int64, actions: [ContainerLifecycle.Action]) async {
        guard let c = try? store.container(id), c.run_generation == generation, !isRunning(c) else { return }
        if actions.contains(.teardown) {
            await runtime.teardown(id)
            if networks.needsTeardown(id) { await networks.teardown(id) }
            volumes.unmountUnused(((try? store.mounts(container: id)) ?? []).filter { $0.type == "volume" }.map(\.name))
        }
        for a in actions {
            switch a {
            case .scheduleRestart(let ms): scheduleRestart(id, afterMs: ms)
            case .autoRemove: try? await removeLocked(id, volumes: true)
            default: continue
            }
        }
    }

    /// A policy restart after `ms`; the due time is stored, so a berthd killed meanwhile resumes it.
    func scheduleRestart(_ id: String, afterMs ms: Int64) {
        _ = try? store.updateContainer(id) { $0.restart_at = Timestamp.nowNanos() + ms * 1_000_000 }
        cancelRestartTimer(id)
        restartTimers[id] = Task {
            try? await Task.sleep(for: .milliseconds(ms))
            guard !Task.isCancelled else { return }
            await self.restartDue(id)
        }
    }

    func cancelRestartTimer(_ id: String) {
        restartTimers.removeValue(forKey: id)?.cancel()
    }

    func restartDue(_ id: String) async {
        restartTimers[id] = nil
        try? await locks.with(id) {
            let (o, _) = try self.apply(id, .restartDue)
            guard o.actions.contains(.launch) else { return }
            do { try await self.launch(id) } catch {
                self.log.warning("restart of \(id.prefix(12)) failed: \(error)")
            }
        }
    }

    func resumeExitWaiters(_ id: String, _ info: ExitInfo, final: Bool) {
        for (_, w) in exitWaiters.removeValue(forKey: id) ?? [:] { w.resume(returning: info) }
        if final { for w in stopWaiters.removeValue(forKey: id) ?? [] { w.resume(returning: info) } }
    }

    /// Waits for the next exit, or until `timeout` passes (nil result).
    func waitNextExit(_ id: String, timeout: Duration?) async -> ExitInfo? {
        await register(id, token(), timeout: timeout)
    }

    func register(_ id: String, _ t: UInt64, timeout: Duration?) async -> ExitInfo? {
        if let timeout { Task { try? await Task.sleep(for: timeout); self.timeoutWaiter(id, t) } }
        return await withCheckedContinuation { exitWaiters[id, default: [:]][t] = $0 }
    }

    func timeoutWaiter(_ id: String, _ t: UInt64) {
        if let w = exitWaiters[id]?.removeValue(forKey: t) { w.resume(returning: nil) }
    }

    // MARK: wait

    public func wait(_ ref: String, condition: String) async throws -> ExitInfo {
        let c = try resolve(ref)
        switch condition {
        case "", "not-running":
            // A container waiting to restart still counts as running, as in dockerd.
            if !ContainerStatus(stored: c.status).reportsRunning { return ExitInfo(code: Int(c.exit_code), error: nil) }
            return await withCheckedContinuation { stopWaiters[c.id, default: []].append($0) }
        case "next-exit":
            return await waitNextExit(c.id, timeout: nil) ?? ExitInfo(code: -1, error: nil)
        case "removed":
            return await withCheckedContinuation { removeWaiters[c.id, default: []].append($0) }
        default:
            throw BerthError.invalid("invalid condition: \"\(condition)\"")
        }
    }

    // MARK: stop / kill / restart

    public enum StopOutcome: Sendable, Equatable { case stopped, notRunning }

    public func stop(_ ref: String, timeout: Int?, signal: String?) async throws -> StopOutcome {
        let c = try resolve(ref)
        let r = try await locks.with(c.id) { try await self.stopLocked(c.id, timeout: timeout, signal: signal) }
        if r == .stopped { emit("stop", c) }
        return r
    }

    func stopLocked(_ id: String, timeout: Int?, signal: String?) async throws -> StopOutcome {
        guard let c = try store.container(id) else { throw BerthError.notFound("No such container: \(id)") }
        let config = decode(ContainerConfig.self, c.config) ?? ContainerConfig()
        let sig = try Signals.parse(signal ?? ((config.StopSignal ?? "").isEmpty ? "SIGTERM" : config.StopSignal!))
        let (o, _) = try apply(id, .stop)
        if o.actions.contains(.nothing) { return .notRunning }
        if o.actions.contains(.cancelRestart) {
            // Stopped while waiting to restart: nothing runs, the restart is called off.
            cancelRestartTimer(id)
            _ = try? store.updateContainer(id) { $0.restart_at = 0 }
            resumeExitWaiters(id, ExitInfo(code: Int(c.exit_code), error: nil), final: true)
            if o.actions.contains(.autoRemove) { try? await removeLocked(id, volumes: true) }
            return .stopped
        }
        let secs = timeout ?? config.StopTimeout ?? 10
        let pid = Int32(c.pid)
        if c.status == ContainerStatus.paused.rawValue { try? await runtime.resume(id) }
        if sig != SIGKILL && secs != 0 {
            let t = token()
            let waiter = Task { await self.waitNextExitToken(id, t, timeout: secs < 0 ? nil : .seconds(secs)) }
            await Task.yield()
            runtime.signal(pid, sig)
            if await waiter.value != nil { return .stopped }
        }
        try await killAndWait(id, pid: pid)
        return .stopped
    }

    /// SIGKILL, then the exit is awaited (and recorded) before the caller answers.
    func killAndWait(_ id: String, pid: Int32) async throws {
        let t = token()
        let waiter = Task { await self.waitNextExitToken(id, t, timeout: .seconds(30)) }
        await Task.yield()
        runtime.signal(pid, SIGKILL)
        if await waiter.value == nil {
            throw BerthError.system("container \(id) did not exit after SIGKILL")
        }
    }

    /// Registers the waiter before the caller signals, so no exit is missed; a container that is
    /// already down answers at once.
    func waitNextExitToken(_ id: String, _ t: UInt64, timeout: Duration?) async -> ExitInfo? {
        if let c = try? store.container(id), !isRunning(c) { return ExitInfo(code: Int(c.exit_code), error: nil) }
        return await register(id, t, timeout: timeout)
    }

    /// `docker kill`: the signal; for SIGKILL the answer waits until the exit is recorded, so an
    /// inspect or rm right after sees the container stopped (exit 137), as with dockerd.
    public func kill(_ ref: String, signal: String?) async throws {
        let c = try resolve(ref)
        let sig = try Signals.parse((signal ?? "").isEmpty ? "SIGKILL" : signal!)
        try await locks.with(c.id) {
            guard let cur = try self.store.container(c.id) else { throw BerthError.notFound("No such container: \(ref)") }
            let (o, _) = try self.apply(c.id, .kill(ref: ref))
            if o.actions.contains(.cancelRestart) {
                await self.cancelRestartTimer(c.id)
                _ = try? self.store.updateContainer(c.id) { $0.restart_at = 0 }
                await self.resumeExitWaiters(c.id, ExitInfo(code: Int(cur.exit_code), error: nil), final: true)
                self.emit("kill", cur, ["signal": String(sig)])
                return
            }
            if cur.status == ContainerStatus.paused.rawValue && sig == SIGKILL { try? await self.runtime.resume(c.id) }
            self.emit("kill", cur, ["signal": String(sig)])
            if sig == SIGKILL {
                try await self.killAndWait(c.id, pid: Int32(cur.pid))
            } else if !runtime.signal(Int32(cur.pid), sig) {
                throw BerthError.conflict("Cannot kill container: \(ref): Container \(c.id) is not running")
            }
        }
    }

    public func restart(_ ref: String, timeout: Int?, signal: String?) async throws {
        let c = try resolve(ref)
        try await locks.with(c.id) {
            _ = try await self.stopLocked(c.id, timeout: timeout, signal: signal)
            await self.runtime.teardown(c.id)
            if self.networks.needsTeardown(c.id) { await self.networks.teardown(c.id) }
            let (o, _) = try self.apply(c.id, .start)
            if o.actions.contains(.launch) {
                await self.cancelRestartTimer(c.id)
                try await self.launch(c.id)
            }
        }
        emit("restart", c)
    }

    // MARK: pause

    public func pause(_ ref: String) async throws {
        let c = try resolve(ref)
        try await locks.with(c.id) {
            guard let cur = try self.store.container(c.id) else { throw BerthError.notFound("No such container: \(ref)") }
            try self.check(cur, .pause)
            try await self.runtime.pause(c.id)
            try self.apply(c.id, .pause)
            self.emit("pause", cur)
        }
    }

    public func unpause(_ ref: String) async throws {
        let c = try resolve(ref)
        try await locks.with(c.id) {
            guard let cur = try self.store.container(c.id) else { throw BerthError.notFound("No such container: \(ref)") }
            try self.check(cur, .unpause)
            try await self.runtime.resume(c.id)
            try self.apply(c.id, .unpause)
            self.emit("unpause", cur)
        }
    }

    // MARK: remove / prune

    /// `volumes` (`rm -v`): its anonymous volumes go too.
    public func remove(_ ref: String, force: Bool, volumes: Bool = false) async throws {
        let c = try resolve(ref)
        try await locks.with(c.id) {
            guard let cur = try self.store.container(c.id) else { return }
            try self.check(cur, .remove(force: force))
            if force && self.isRunning(cur) {
                // Killed first, so its exit is recorded (and its die event sent) as with dockerd.
                _ = try await self.stopLocked(c.id, timeout: 0, signal: "SIGKILL")
            }
            try await self.removeLocked(c.id, volumes: volumes)
        }
    }

    func removeLocked(_ id: String, volumes removeVolumes: Bool = false) async throws {
        guard let c = try store.container(id) else { return }
        let anonymous = removeVolumes ? anonymousVolumes(id) : []
        cancelRestartTimer(id)
        stopHealth(id)
        try apply(id, .remove(force: true))
        await runtime.remove(id)
        if networks.needsTeardown(id, ports: c.ports) { await networks.teardown(id) }
        do { try store.deleteContainer(id) } catch {
            _ = try? apply(id, .removeFailed) { $0.error = "removal failed: \(error)" }
            throw error
        }
        emit("destroy", c)
        volumes.removeAnonymous(anonymous)
        let info = ExitInfo(code: Int(c.exit_code), error: nil)
        for w in removeWaiters.removeValue(forKey: id) ?? [] { w.resume(returning: info) }
        resumeExitWaiters(id, info, final: true)
        failPendingAttachers(id)
    }

    public func prune(filters: Filters) async throws -> PruneContainersResponse {
        try filters.validate(["until", "label", "label!"])
        let until = filters["until"].first.flatMap(Timestamp.parseDockerTime)
        var deleted: [String] = []
        var reclaimed: Int64 = 0
        for c in try store.allContainers() where !ContainerStatus(stored: c.status).reportsRunning && c.status != "removing" {
            if let until, c.created >= until { continue }
            let labels = decode([String: String].self, Data(c.labels.utf8)) ?? [:]
            if filters.has("label") && !Filters.labelsMatch(filters["label"], labels) { continue }
            if filters.has("label!") && Filters.labelsMatch(filters["label!"], labels) { continue }
            let size = FS.diskUsage(runtime.paths(c.id).upper)
            do {
                try await locks.with(c.id) {
                    guard let cur = try self.store.container(c.id), !ContainerStatus(stored: cur.status).reportsRunning else { return }
                    try await self.removeLocked(c.id)
                }
                deleted.append(c.id)
                reclaimed += size
            } catch { log.warning("prune \(c.id): \(error)") }
        }
        return PruneContainersResponse(ContainersDeleted: deleted, SpaceReclaimed: reclaimed)
    }

    // MARK: daemon start

    /// Start-up pass over one container (`Engine.reconcileContainers`): an exit while berthd was
    /// away is recorded through the state machine (its policy may restart it), a monitor that
    /// died counts as an exit, a restart that was waiting is scheduled again, and a stopped
    /// container whose policy says so is started, as dockerd does when it comes up.
    /// A container still running when berthd came back: its probes go on.
    public func resumeHealth(_ id: String) { startHealth(id, fresh: false) }

    /// Ends the restart timers and health probes of this process (berthd stopping).
    func stopBackgroundWork() {
        for (_, t) in restartTimers { t.cancel() }
        restartTimers = [:]
        for (_, t) in healthTasks { t.cancel() }
        healthTasks = [:]
    }

    public func reconcile(_ c: ContainerRecord, monitorAlive: Bool) async {
        switch ContainerStatus(stored: c.status) {
        case .running, .paused:
            if runtime.exitStatus(c.id) != nil {
                await handleExit(c.id)
            } else if !monitorAlive {
                log.warning("container \(c.id.prefix(12)) lost its monitor; handling it as an exit")
                await recordExit(c, code: 255, oom: false, at: Timestamp.nowNanos(), error: "container monitor exited unexpectedly")
            }
        case .restarting:
            let left = c.restart_at > 0 ? max(0, (c.restart_at - Timestamp.nowNanos()) / 1_000_000) : 0
            scheduleRestart(c.id, afterMs: left)
        case .exited:
            guard ContainerLifecycle.restartsAtDaemonStart(facts(c), exitCode: Int(c.exit_code)) else { return }
            do { _ = try await start(c.id) } catch { log.warning("restart of \(c.id.prefix(12)) at start-up failed: \(error)") }
        case .removing:
            try? await locks.with(c.id) { try await self.removeLocked(c.id) }
        case .created, .dead:
            return
        }
    }
}
