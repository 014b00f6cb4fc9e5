import BerthExecutor
import BerthModels
import BerthStore
import BerthSystem
import Foundation

/// Health checks: one task per running container with a probe, sleeping between probes; each
/// probe is one `runc exec` (`Executor.probe`). Results go through `HealthRules.record`, the state
/// is stored with the container (inspect, ps, the health filter read it) and a change of status
/// is a `health_status: …` event. A berthd restart re-arms the probes of running containers.
extension ContainerService {
    /// Starts probing after the container started; `fresh` begins at "starting" (a start), else
    /// the stored state goes on (berthd came back).
    func startHealth(_ id: String, fresh: Bool) {
        stopHealth(id)
        guard let c = try? store.container(id), let config = decode(ContainerConfig.self, c.config),
              let probe = HealthRules.probe(config.Healthcheck) else { return }
        var state = HealthState(Status: "starting")
        if !fresh, !c.health.isEmpty, let stored = decode(HealthState.self, Data(c.health.utf8)) { state = stored }
        if fresh { saveHealth(id, state) }
        liveHealth.withLock { $0[id] = state }
        try? runtime.prepareProbe(containerID: id, argv: probe.argv)
        let generation = c.run_generation
        healthTasks[id] = Task { [runtime, store] in
            while !Task.isCancelled {
                guard let cur = try? store.containerRun(id), cur.generation == generation,
                      ContainerStatus(stored: cur.status).hasProcess else { return }
                let since = (Timestamp.nowNanos() - cur.startedAt) / 1_000_000
                try? await Task.sleep(for: .milliseconds(HealthRules.delayMs(probe, sinceStartMs: since, state: state)))
                guard !Task.isCancelled, let now = try? store.containerRun(id), now.generation == generation,
                      ContainerStatus(stored: now.status) == .running else {
                    if Task.isCancelled { return }
                    continue  // paused: no probe until it runs again
                }
                // A probe is an exec to dockerd, and its events say so (`docker events` shows them).
                let execID = Identifier.random64()
                let shown = probe.argv.joined(separator: " ")
                let record = try? store.container(id)
                if let record {
                    self.emit("exec_create: " + shown, record, ["execID": execID])
                    self.emit("exec_start: " + shown, record, ["execID": execID])
                }
                let start = Timestamp.nowNanos()
                let r = await runtime.probe(containerID: id, argv: probe.argv, timeoutMs: probe.timeoutMs)
                if let record { self.emit("exec_die", record, ["execID": execID, "exitCode": String(r.exitCode)]) }
                guard !Task.isCancelled else { return }
                let changed = HealthRules.record(&state, probe: probe, exitCode: r.exitCode, output: r.output,
                                                 start: start, end: Timestamp.nowNanos(), containerStarted: now.startedAt)
                let snapshot = state
                self.liveHealth.withLock { $0[id] = snapshot }
                // The store keeps the status (ps, the health filter, a restart); the log of the
                // last results is read from memory, so a probe costs no write unless it changed.
                if changed {
                    self.saveHealth(id, state)
                    if let c = try? store.container(id) { self.emit("health_status: " + state.Status, c) }
                }
            }
        }
    }

    func stopHealth(_ id: String) {
        healthTasks.removeValue(forKey: id)?.cancel()
        if let last = liveHealth.withLock({ $0.removeValue(forKey: id) }) { saveHealth(id, last) }
    }

    /// The health state as inspect shows it: the live one while probes run, else the stored one.
    nonisolated func health(_ c: ContainerRecord) -> HealthState? {
        if let live = liveHealth.withLock({ $0[c.id] }) { return live }
        return c.health.isEmpty ? nil : decode(HealthState.self, Data(c.health.utf8))
    }

    nonisolated func saveHealth(_ id: String, _ state: HealthState) {
        guard let json = try? JSONEncoder().encode(state) else { return }
        _ = try? store.updateContainer(id) { $0.health = String(decoding: json, as: UTF8.self) }
    }
}
