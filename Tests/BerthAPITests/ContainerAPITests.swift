#if canImport(Glibc)
import Glibc
#endif
import BerthExecutor
import BerthModels
import BerthSystem
import Foundation
import Testing

/// Waits for `condition` (polling the API, as a client would), failing after `seconds`.
func eventually(_ what: Comment, seconds: Double = 10, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out waiting: \(what)")
    throw HarnessError.malformed("timeout")
}

/// The engine's container lifecycle through the real API, over the fake runtime.
@Suite struct ContainerAPITests {
    static func harness(_ name: String = #function, cmd: [String] = ["sleep"], healthcheck: HealthcheckConfig? = nil) async throws -> APIHarness {
        let h = try await APIHarness(name)
        try await h.loadImage(try FakeImage.archive(cmd: cmd, healthcheck: healthcheck))
        return h
    }

    @Test func runLogsAndThePipelineStages() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        let id = try await h.create(CreateBody("fake:latest", ["sh", "-c", "echo hi; warn oops"]))
        try await h.start(id)
        #expect(try await h.wait(id) == 0)
        let logs = try await h.request("GET", "/v1.47/containers/\(id)/logs?stdout=1&stderr=1")
        let frames = StdFrames.split(logs.body)
        #expect(frames.map(\.stream) == [1, 2])
        #expect(frames.map(\.text) == ["hi\n", "oops\n"])
        let c = try await h.inspect(id)
        #expect(c.State.Status == "exited" && c.State.ExitCode == 0)
        #expect(c.HostConfig.LogConfig?.Type == "json-file")
        // ps shows the command as dockerd does: an argument with a blank in single quotes.
        let ps = try await h.request("GET", "/v1.47/containers/json?all=1")
        #expect(ps.text.contains(#""Command":"sh -c 'echo hi; warn oops'""#), "\(ps.text)")
        // prepare → create → attach → setup → start, then teardown after the exit.
        try await eventually("teardown") { h.fake.calls.withLock { $0.teardowns[id] ?? 0 } == 1 }
        let stages = h.fake.calls.withLock { $0.stages }.filter { $0.hasSuffix(id) }.map { $0.split(separator: " ")[0] }
        #expect(stages == ["prepare", "create", "attach", "setup", "start", "teardown"])
    }

    /// dockerd answers a SIGKILL only once the container stopped: inspect shows 137 and rm works.
    @Test func killAnswersAfterTheExitIsRecorded() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        let id = try await h.create(CreateBody())
        try await h.start(id)
        let k = try await h.request("POST", "/v1.47/containers/\(id)/kill")
        #expect(k.status == 204)
        let c = try await h.inspect(id)
        #expect(c.State.Status == "exited")
        #expect(c.State.ExitCode == 137)
        #expect(try await h.request("DELETE", "/v1.47/containers/\(id)").status == 204)
        #expect(try await h.request("GET", "/v1.47/containers/\(id)/json").status == 404)
        #expect(h.fake.calls.withLock { $0.removed } == [id])
    }

    @Test func stopSendsTermThenKill() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        let soft = try await h.create(CreateBody("fake:latest", ["sleep"]))
        let hard = try await h.create(CreateBody("fake:latest", ["sleep-hard"]))
        try await h.start(soft)
        try await h.start(hard)
        #expect(try await h.request("POST", "/v1.47/containers/\(soft)/stop?t=5").status == 204)
        #expect(try await h.inspect(soft).State.ExitCode == 128 + Int(SIGTERM))
        #expect(try await h.request("POST", "/v1.47/containers/\(hard)/stop?t=0").status == 204)
        #expect(try await h.inspect(hard).State.ExitCode == 137)
        // Stopping a stopped container is a 304, as with dockerd.
        #expect(try await h.request("POST", "/v1.47/containers/\(hard)/stop").status == 304)
    }

    /// A command that cannot run: 127 and State.Error, the start answered with dockerd's error.
    @Test func startFailureIsRecorded() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        let id = try await h.create(CreateBody("fake:latest", ["missing"]))
        let r = try await h.request("POST", "/v1.47/containers/\(id)/start")
        #expect(r.status >= 400)
        #expect(r.text.contains("executable file not found"))
        let c = try await h.inspect(id)
        #expect(c.State.ExitCode == 127)
        #expect(c.State.Error.contains("executable file not found"))
        #expect(c.State.Status == "created" || c.State.Status == "exited")
    }

    @Test func oomKillIsReported() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        let id = try await h.create(CreateBody("fake:latest", ["oom"], hostConfig: .with { $0.Memory = 8 << 20 }))
        try await h.start(id)
        #expect(try await h.wait(id) == 137)
        let c = try await h.inspect(id)
        #expect(c.State.OOMKilled)
        let events = try await h.request("GET", "/v1.47/events?until=\(Int(Date().timeIntervalSince1970) + 1)&filters=%7B%22container%22%3A%5B%22\(id)%22%5D%7D")
        let actions = events.text.split(separator: "\n").compactMap { l -> String? in
            struct E: Decodable { let Action: String }
            return try? JSONDecoder().decode(E.self, from: Data(l.utf8)).Action
        }
        #expect(actions.firstIndex(of: "oom") != nil && actions.firstIndex(of: "oom")! < (actions.firstIndex(of: "die") ?? -1))
    }

    @Test func onFailureStopsAtItsLimit() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        var hc = HostConfig()
        hc.RestartPolicy = RestartPolicy(Name: "on-failure", MaximumRetryCount: 2)
        let id = try await h.create(CreateBody("fake:latest", ["exit", "3"], hostConfig: hc))
        try await h.start(id)
        try await eventually("two restarts, then exited") {
            let c = try await h.inspect(id)
            return c.RestartCount == 2 && c.State.Status == "exited"
        }
        #expect(h.fake.calls.withLock { $0.started.filter { $0 == id }.count } == 3)
        #expect(try await h.inspect(id).State.ExitCode == 3)
    }

    /// berthd goes away during a backoff; the next one goes on with the policy.
    @Test func restartLoopSurvivesTheDaemon() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        var hc = HostConfig()
        hc.RestartPolicy = RestartPolicy(Name: "always", MaximumRetryCount: 0)
        let id = try await h.create(CreateBody("fake:latest", ["exit", "3"], hostConfig: hc))
        try await h.start(id)
        try await eventually("restarting") { try await h.inspect(id).RestartCount >= 2 }
        await h.engine.stop()
        let before = try await h.inspect(id).RestartCount

        let h2 = try await APIHarness(restarting: h)
        try await eventually("climbing again") { try await h2.inspect(id).RestartCount >= before + 2 }
        let ps = try await h2.request("GET", "/v1.47/containers/json?all=1")
        #expect(ps.text.contains(id))
        #expect(try await h2.request("POST", "/v1.47/containers/\(id)/stop?t=1").status == 204)
        let c = try await h2.inspect(id)
        #expect(c.State.Status == "exited")
        let count = c.RestartCount
        // Stopped by the user: no further restarts.
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await h2.inspect(id).RestartCount == count)
        await h2.engine.stop()
    }

    /// A container that exited (or lost its monitor) while berthd was away is recorded and torn
    /// down at the next start.
    @Test func reconcileTearsDownWhatExitedWhileAway() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        let exited = try await h.create(CreateBody())
        let lost = try await h.create(CreateBody())
        let alive = try await h.create(CreateBody())
        for id in [exited, lost, alive] { try await h.start(id) }
        await h.engine.stop()
        h.fake.loseMonitor(exited, exitCode: 7)
        h.fake.loseMonitor(lost)

        let h2 = try await APIHarness(restarting: h)
        let a = try await h2.inspect(exited)
        #expect(a.State.Status == "exited" && a.State.ExitCode == 7)
        let b = try await h2.inspect(lost)
        #expect(b.State.Status == "exited" && b.State.ExitCode == 255)
        #expect(b.State.Error == "container monitor exited unexpectedly")
        #expect(try await h2.inspect(alive).State.Status == "running")
        try await eventually("teardown of both") {
            h2.fake.calls.withLock { ($0.teardowns[exited] ?? 0) >= 1 && ($0.teardowns[lost] ?? 0) >= 1 }
        }
        #expect(h2.fake.calls.withLock { $0.teardowns[alive] } == nil)
        #expect(h2.fake.calls.withLock { $0.logRotations.contains(alive) })
        #expect(try await h2.request("POST", "/v1.47/containers/\(alive)/kill").status == 204)
        await h2.engine.stop()
    }

    @Test func healthStartingUnhealthyHealthy() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        var body = CreateBody()
        // A start period, so "starting" holds for a while even on a loaded machine (failures in it
        // do not count); then 50 ms probes.
        body.Healthcheck = HealthcheckConfig(Test: ["CMD", "test", "-f", "/tmp/ok"], Interval: 50_000_000, Timeout: 1_000_000_000,
                                             StartPeriod: 4_000_000_000, Retries: 2)
        let id = try await h.create(body)
        try await h.start(id)
        #expect(try await h.inspect(id).State.Health?.Status == "starting")
        try await eventually("unhealthy", seconds: 20) { try await h.inspect(id).State.Health?.Status == "unhealthy" }
        #expect((try await h.inspect(id).State.Health?.FailingStreak ?? 0) >= 2)
        h.fake.touch(id, "/tmp/ok")
        try await eventually("healthy") { try await h.inspect(id).State.Health?.Status == "healthy" }
        let c = try await h.inspect(id)
        #expect(c.State.Health?.FailingStreak == 0)
        #expect((c.State.Health?.Log.count ?? 0) <= 5)
        let ps = try await h.request("GET", "/v1.47/containers/json?filters=%7B%22health%22%3A%5B%22healthy%22%5D%7D")
        #expect(ps.text.contains(id) && ps.text.contains("(healthy)"))
        let none = try await h.request("GET", "/v1.47/containers/json?filters=%7B%22health%22%3A%5B%22unhealthy%22%5D%7D")
        #expect(!none.text.contains(id))
        #expect(try await h.request("POST", "/v1.47/containers/\(id)/kill").status == 204)
    }

    /// create and `update` share one resources mapping: what `runc update` gets is what a start with
    /// the same settings would.
    @Test func updateAndCreateMapResourcesAlike() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        let id = try await h.create(CreateBody("fake:latest", ["sleep"], hostConfig: .with { $0.Memory = 64 << 20 }))
        try await h.start(id)
        let started = h.fake.calls.withLock { $0.specs[id]?.resources.memory?.limit }
        #expect(started == 64 << 20)
        let u = try await h.request("POST", "/v1.47/containers/\(id)/update", json: HostConfig.with { $0.Memory = 96 << 20; $0.MemorySwap = 200 << 20 })
        #expect(u.status == 200)
        let updated = h.fake.calls.withLock { $0.updates[id]?.memory }
        #expect(updated?.limit == 96 << 20 && updated?.swap == 200 << 20)
        #expect(try await h.inspect(id).HostConfig.Memory == 96 << 20)
        #expect(try await h.request("POST", "/v1.47/containers/\(id)/kill").status == 204)
    }

    /// The engine resolves Docker's configuration into the runtime's spec: no wire types below.
    @Test func specIsResolvedByTheEngine() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        var hc = HostConfig()
        hc.ExtraHosts = ["db:10.0.0.5"]
        hc.Dns = ["192.0.2.53"]
        hc.CapDrop = ["ALL"]
        hc.NetworkMode = "none"
        var body = CreateBody("fake:latest", ["sleep"], hostConfig: hc)
        body.Tty = true
        let id = try await h.create(body)
        try await h.start(id)
        let spec = try #require(h.fake.calls.withLock { $0.specs[id] })
        #expect(spec.process.tty)
        #expect(spec.process.capabilities.isEmpty)
        #expect(spec.namespaces.contains { $0.type == "network" && $0.path == nil })
        #expect(spec.etc.hosts.contains("10.0.0.5\tdb\n"))
        #expect(spec.etc.resolvConf.contains("nameserver 192.0.2.53"))
        #expect(spec.etc.hostname == String(id.prefix(12)) + "\n")
        #expect(spec.layers.count == 1)
        #expect(try await h.request("POST", "/v1.47/containers/\(id)/kill").status == 204)
        // Docker's default masked and read-only paths are in the HostConfig, as dockerd writes
        // them; a client's own list is what the container gets; nulls are written, not omitted.
        let shown = try await h.request("GET", "/v1.47/containers/\(id)/json")
        #expect(shown.text.contains(#""MaskedPaths":["/proc/asound","#) && shown.text.contains(#""ReadonlyPaths":["/proc/bus","#), "\(shown.text)")
        #expect(shown.text.contains(#""Entrypoint":null"#) && shown.text.contains(#""SecurityOpt":null"#) && shown.text.contains(#""ExecIDs":null"#))
        // /info names what this engine has, as dockerd lists its own.
        let info = try await h.request("GET", "/v1.47/info")
        #expect(info.text.contains(#""LoggingDriver":"json-file""#) && info.text.contains(#""Network":["bridge","host","null"]"#)
                && info.text.contains("name=seccomp,profile=builtin"), "\(info.text)")
        let image = try await h.request("GET", "/v1.47/images/fake:latest/json")
        #expect(image.text.contains(#""Hostname":"""#) && image.text.contains(#""OnBuild":null"#) && image.text.contains(#""AttachStdin":false"#), "\(image.text)")
        var own = HostConfig()
        own.MaskedPaths = ["/proc/kcore"]
        own.ReadonlyPaths = []
        let id2 = try await h.create(CreateBody("fake:latest", ["sleep"], hostConfig: own))
        try await h.start(id2)
        let spec2 = try #require(h.fake.calls.withLock { $0.specs[id2] })
        #expect(spec2.maskedPaths == ["/proc/kcore"] && spec2.readonlyPaths == [])
        #expect(try await h.request("POST", "/v1.47/containers/\(id2)/kill").status == 204)
    }

    /// Exec start frames by the start request's Tty; a missing binary is 127.
    @Test func execFramingAndExitCodes() async throws {
        let h = try await Self.harness()
        defer { h.cleanup() }
        let id = try await h.create(CreateBody())
        try await h.start(id)
        struct ExecCreate: Encodable { var Cmd: [String]; var Tty: Bool; var AttachStdout = true; var AttachStderr = true }
        struct ExecStart: Encodable { var Detach = false; var Tty: Bool }
        struct ExecInspect: Decodable { let ExitCode: Int?; let Running: Bool }
        func run(_ cmd: [String], createTty: Bool, startTty: Bool) async throws -> (RawResponse, [UInt8], ExecInspect) {
            let e = try await h.decode(IDResponse.self, "POST", "/v1.47/containers/\(id)/exec", json: ExecCreate(Cmd: cmd, Tty: createTty)).Id
            let c = try await h.connect()
            try await c.send("POST", "/v1.47/exec/\(e)/start", body: Array(try JSONEncoder().encode(ExecStart(Tty: startTty))),
                             headers: ["Content-Type": "application/json", "Connection": "Upgrade", "Upgrade": "tcp"])
            let head = try await c.readHead()
            let out = try await c.readToClose()
            let inspect = try await h.decode(ExecInspect.self, "GET", "/v1.47/exec/\(e)/json")
            return (RawResponse(status: head.status, headers: head.headers, body: []), out, inspect)
        }
        // A TTY exec started with Tty false (the Python SDK) is framed.
        let (r1, out1, i1) = try await run(["echo", "framed"], createTty: true, startTty: false)
        #expect(r1.status == 101)
        #expect(r1.header("Content-Type") == "application/vnd.docker.multiplexed-stream")
        #expect(StdFrames.split(out1).map(\.text) == ["framed\n"])
        #expect(i1.ExitCode == 0 && !i1.Running)
        let (r2, out2, _) = try await run(["echo", "raw"], createTty: false, startTty: true)
        #expect(r2.header("Content-Type") == "application/vnd.docker.raw-stream")
        #expect(out2 == Array("raw\n".utf8))
        let (_, _, i3) = try await run(["nosuchbinary"], createTty: false, startTty: false)
        #expect(i3.ExitCode == 127)
        #expect(try await h.request("POST", "/v1.47/containers/\(id)/kill").status == 204)
    }
}

extension HostConfig {
    static func with(_ set: (inout HostConfig) -> Void) -> HostConfig {
        var hc = HostConfig()
        set(&hc)
        return hc
    }
}

/// A layer committed whose image was never registered (berthd killed between the two) is gone
/// after a restart: its row and its directory.
@Suite struct UnreferencedLayerTests {
    @Test func aLayerNoImageNamesIsDroppedAtStart() async throws {
        let h = try await APIHarness()
        defer { h.cleanup() }
        let upper = h.dir + "/upper"
        try FS.mkdirAll(upper)
        try FS.write(upper + "/file", "content\n")
        let diff = try await h.engine.imageStore.commitLayer(from: upper, parentChain: nil, overlayUpper: true, adopt: false)
        #expect(try h.engine.store.layer(diff.description) != nil)
        let h2 = try await APIHarness(restarting: h)
        #expect(try h2.engine.store.layer(diff.description) == nil)
        let dirs = (try? FileManager.default.contentsOfDirectory(atPath: h.dir + "/data/layers")) ?? []
        #expect(!dirs.contains(diff.hex), "\(dirs)")
    }

    /// A build's staged directory becomes the layer by a rename: the same diff id as the tar of
    /// it would give, its files in the layer, its tar kept; the same content again adopts nothing.
    @Test func anAdoptedDirectoryBecomesTheLayer() async throws {
        let h = try await APIHarness()
        defer { h.cleanup() }
        func stage(_ name: String) throws -> String {
            let dir = h.dir + "/data/tmp/" + name
            try FS.mkdirAll(dir + "/app", mode: 0o755)
            try FS.write(dir + "/app/f", "content\n")
            return dir
        }
        let copy = try stage("copy")
        let upper = h.dir + "/upper2"
        try FS.mkdirAll(upper + "/app", mode: 0o755)
        try FS.write(upper + "/app/f", "content\n")
        _ = try stage("unused")
        let expected = try await h.engine.imageStore.commitLayer(from: copy, parentChain: nil, overlayUpper: true, adopt: false)
        let adopted = try await h.engine.imageStore.commitLayer(from: h.dir + "/data/tmp/unused", parentChain: nil, overlayUpper: false, adopt: true)
        #expect(adopted == expected)
        // That layer existed already: the directory was not taken.
        #expect(FS.exists(h.dir + "/data/tmp/unused/app/f"))
        try FS.write(upper + "/app/g", "more\n")
        let fresh = try await h.engine.imageStore.commitLayer(from: upper, parentChain: nil, overlayUpper: false, adopt: true)
        #expect(!FS.exists(upper))
        let layer = try #require(try h.engine.store.layer(fresh.description))
        #expect(layer.size == 13)
        #expect(FS.readText(h.dir + "/data/layers/" + fresh.hex + "/diff/app/g") == "more\n")
        #expect(FS.exists(h.dir + "/data/layers/" + fresh.hex + "/layer.tar"))
    }
}
