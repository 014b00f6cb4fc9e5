import BerthEngine
import BerthModels
import BerthSystem
import Testing

/// The container state machine and the restart policy, without any I/O.
@Suite struct ContainerLifecycleTests {
    typealias L = ContainerLifecycle

    func facts(_ s: ContainerStatus, _ policy: RestartRule = .none, autoRemove: Bool = false) -> L.Facts {
        L.Facts(id: "c1", name: "web", status: s, policy: policy, autoRemove: autoRemove)
    }

    func refusal(_ f: L.Facts, _ e: L.Event) -> String? {
        do { _ = try L.transition(f, e); return nil } catch let b as BerthError { return b.message } catch { return "\(error)" }
    }

    @Test func startAndExitWithoutPolicy() throws {
        var o = try L.transition(facts(.created), .start)
        #expect(o.actions == [.launch])
        o = try L.transition(o.facts, .launched)
        #expect(o.facts.status == .running && o.actions == [.emit("start")])
        o = try L.transition(o.facts, .exited(code: 3, ranForMs: 50))
        #expect(o.facts.status == .exited && o.actions == [.emit("die"), .teardown])
        #expect(try L.transition(o.facts, .exited(code: 3, ranForMs: 50)).actions.isEmpty)  // a repeated report
    }

    @Test func dockersRefusals() {
        #expect(refusal(facts(.paused), .start) == "cannot start a paused container, try unpause instead")
        #expect(refusal(facts(.dead), .start) == "container is marked for removal and cannot be started")
        #expect(refusal(facts(.paused), .pause) == "Container c1 is already paused")
        #expect(refusal(facts(.exited), .pause) == "Container c1 is not running")
        #expect(refusal(facts(.restarting), .pause) == "Container c1 is restarting, wait until the container is running")
        #expect(refusal(facts(.running), .unpause) == "Container c1 is not paused")
        #expect(refusal(facts(.exited), .kill(ref: "web")) == "Cannot kill container: web: Container c1 is not running")
        #expect(refusal(facts(.paused), .exec) == "Container c1 is paused, unpause the container before exec")
        #expect(refusal(facts(.created), .exec) == "Container c1 is not running")
        #expect(refusal(facts(.restarting), .exec) == "Container c1 is restarting, wait until the container is running")
        #expect(refusal(facts(.paused), .attach) == "You cannot attach to a paused container, unpause it first")
        #expect(refusal(facts(.running), .remove(force: false)) == "cannot remove container \"/web\": container is running: stop the container before removing or force remove")
        #expect(refusal(facts(.removing), .remove(force: true)) == "removal of container c1 is already in progress")
        #expect(refusal(facts(.running), .start) == nil)
        #expect(try! L.transition(facts(.running), .start).actions == [.nothing])
        #expect(try! L.transition(facts(.exited), .stop).actions == [.nothing])
    }

    @Test func alwaysBacksOffAndDoubles() throws {
        var f = facts(.running, RestartRule(kind: .always, maxRetries: 0))
        var delays: [Int64] = []
        for _ in 0..<12 {
            let o = try L.transition(f, .exited(code: 0, ranForMs: 20))
            #expect(o.facts.status == .restarting)
            guard case .scheduleRestart(let ms) = o.actions.last else { Issue.record("no restart scheduled"); return }
            delays.append(ms)
            f = try L.transition(try L.transition(o.facts, .restartDue).facts, .launched).facts
        }
        #expect(delays == [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 51200, 60000, 60000])
        #expect(f.restartCount == 12)
        // A run of ten seconds or more starts the delay over.
        let o = try L.transition(f, .exited(code: 0, ranForMs: 10_000))
        #expect(o.actions.last == .scheduleRestart(afterMs: 100))
    }

    @Test func onFailureCountsAndStops() throws {
        var f = facts(.running, RestartRule(kind: .onFailure, maxRetries: 2))
        #expect(try L.transition(f, .exited(code: 0, ranForMs: 5)).facts.status == .exited)  // success: no restart
        for expected in [ContainerStatus.restarting, .restarting, .exited] {
            let o = try L.transition(f, .exited(code: 1, ranForMs: 5))
            #expect(o.facts.status == expected)
            f = o.facts.status == .restarting ? try L.transition(o.facts, .launched).facts : o.facts
        }
        #expect(f.restartCount == 2)
    }

    @Test func userStopsCallOffRestarts() throws {
        let always = RestartRule(kind: .always, maxRetries: 0)
        // Stopped while running: the exit does not restart.
        let stopping = try L.transition(facts(.running, always), .stop)
        #expect(stopping.actions == [.signal] && stopping.facts.manuallyStopped)
        #expect(try L.transition(stopping.facts, .exited(code: 137, ranForMs: 5)).facts.status == .exited)
        // Stopped during the delay: the restart is cancelled at once.
        let waiting = try L.transition(facts(.running, always), .exited(code: 1, ranForMs: 5)).facts
        let o = try L.transition(waiting, .stop)
        #expect(o.facts.status == .exited && o.actions == [.cancelRestart])
        #expect(try L.transition(o.facts, .restartDue).actions.isEmpty)
        // A user start resets the count and the delay.
        let restarted = try L.transition(o.facts, .start)
        #expect(restarted.facts.restartCount == 0 && restarted.facts.backoffMs == 0 && !restarted.facts.manuallyStopped)
    }

    @Test func unlessStoppedAndDaemonStart() {
        let unless = RestartRule(kind: .unlessStopped, maxRetries: 0), always = RestartRule(kind: .always, maxRetries: 0)
        var f = facts(.exited, unless)
        #expect(L.restartsAtDaemonStart(f, exitCode: 0))
        f.manuallyStopped = true
        #expect(!L.restartsAtDaemonStart(f, exitCode: 0))
        var a = facts(.exited, always)
        a.manuallyStopped = true
        #expect(L.restartsAtDaemonStart(a, exitCode: 0))  // dockerd: always comes back with the daemon
        #expect(!L.restartsAtDaemonStart(facts(.exited), exitCode: 1))
        #expect(L.restartsAtDaemonStart(facts(.restarting, unless), exitCode: 1))
        #expect(!L.restartsAtDaemonStart(facts(.exited, RestartRule(kind: .onFailure, maxRetries: 0)), exitCode: 0))
    }

    @Test func autoRemoveAfterTheLastRun() throws {
        let o = try L.transition(facts(.running, autoRemove: true), .exited(code: 0, ranForMs: 1))
        #expect(o.actions == [.emit("die"), .teardown, .autoRemove])
    }

    @Test(arguments: [("no", 0, true), ("always", 0, true), ("unless-stopped", 0, true), ("on-failure", 3, true), ("on-failure", 0, true),
                      ("sometimes", 0, false), ("always", 2, false), ("on-failure", -1, false)])
    func policyParsing(_ name: String, _ max: Int, _ ok: Bool) {
        let r = Result { try RestartRule(BerthModels.RestartPolicy(Name: name, MaximumRetryCount: max)) }
        if case .success = r { #expect(ok) } else { #expect(!ok) }
    }
}

/// The container's config completed from the image's, as dockerd merges them.
@Suite struct ConfigMergeTests {
    @Test func portsAndVolumesOfBothAreKept() {
        var user = ContainerConfig()
        user.ExposedPorts = ["8080/tcp": EmptyObject()]
        user.Volumes = ["/mine": EmptyObject()]
        var image = ContainerConfig()
        image.ExposedPorts = ["80/tcp": EmptyObject()]
        image.Volumes = ["/data": EmptyObject()]
        let c = ContainerService.merge(user, image: image)
        #expect(Set((c.ExposedPorts ?? [:]).keys) == ["8080/tcp", "80/tcp"])
        #expect(Set((c.Volumes ?? [:]).keys) == ["/mine", "/data"])
        // Nothing from the user: the image's.
        let plain = ContainerService.merge(ContainerConfig(), image: image)
        #expect(Set((plain.ExposedPorts ?? [:]).keys) == ["80/tcp"] && Set((plain.Volumes ?? [:]).keys) == ["/data"])
    }
}

@Suite struct BuildStepLabelTests {
    /// Only the key marks a build's step container (hidden, removed at start); a user's label
    /// whose value holds the same text is a user's container.
    @Test func onlyTheKeyCounts() {
        #expect(ContainerService.isBuildStep(labels: #"{"com.berth.build-step":""}"#))
        #expect(!ContainerService.isBuildStep(labels: #"{"note":"com.berth.build-step"}"#))
        #expect(!ContainerService.isBuildStep(labels: #"{"note":"x\"com.berth.build-step\":"}"#))
    }
}
