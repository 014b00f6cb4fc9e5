#if canImport(Glibc)
import Glibc
#endif
import BerthClient
import BerthSystem
import Foundation
import Testing

/// A real berthd for one test: its own data, exec root and socket under /tmp/berth-it-<id>.
final class TestDaemon: @unchecked Sendable {
    let root: String
    let socket: String
    let extraArgs: [String]
    /// The network namespace berthd runs in (networking tests); nil: this one, with `--bridge none`
    /// so that nothing is made on the host's own network.
    let netns: String?
    private(set) var pid: pid_t = 0
    let client: BerthClient

    static var binary: String {
        if let b = ProcessInfo.processInfo.environment["BERTHD_BINARY"] { return b }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("berthd").path
    }

    init(extraArgs: [String] = [], netns: String? = nil) throws {
        self.netns = netns
        root = "/tmp/berth-it-" + String(Identifier.random64().prefix(10))
        socket = root + "/berth.sock"
        self.extraArgs = extraArgs
        try FS.mkdirAll(root)
        client = BerthClient(address: .unix(path: socket))
    }

    var dockerHost: String { "unix://" + socket }

    /// Starts berthd and returns once it logged that it is ready (inotify on its log, no polling).
    func start() async throws {
        let logPath = root + "/berthd.log"
        let logFd = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        defer { close(logFd) }
        let before = FS.fileSize(logPath)
        let (stream, cont) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let watch = try FileWatcher.shared.watch(logPath, mask: UInt32(IN_MODIFY)) { _ in cont.yield() }
        defer { FileWatcher.shared.unwatch(watch) }
        // nsenter changes only the network namespace (`ip netns exec` would remount /sys, hiding cgroups from runc).
        let prefix = netns.map { ["/usr/bin/nsenter", "--net=/run/netns/" + $0] } ?? []
        let network = netns == nil ? ["--bridge", "none"] : []
        pid = try Subprocess.spawn(prefix + [Self.binary, "-H", "unix://" + socket, "--data-root", root + "/data",
                                    "--exec-root", root + "/exec", "--pidfile", root + "/berthd.pid"] + network + extraArgs,
                                   stdout: .fd(logFd), stderr: .fd(logFd))
        let deadline = ContinuousClock.now + .seconds(30)
        let timer = Task { try? await Task.sleep(until: deadline); cont.finish() }
        defer { timer.cancel() }
        for await _ in stream {
            let log = String(decoding: (try? FS.read(logPath)) ?? Data(), as: UTF8.self)
            if log.utf8.count > Int(before), log.dropFirst(Int(before)).contains("ready") { return }
            if !Syscall.processExists(pid) { break }
        }
        throw BerthError.system("berthd did not become ready:\n" + String(decoding: (try? FS.read(logPath)) ?? Data(), as: UTF8.self))
    }

    /// Waits (inotify, bounded) until `path` exists.
    func waitForFile(_ path: String, timeout: Duration = .seconds(20)) async throws {
        let dir = (path as NSString).deletingLastPathComponent
        let (stream, cont) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let w = try FileWatcher.shared.watch(dir, mask: UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO) | UInt32(IN_CREATE)) { _ in cont.yield() }
        defer { FileWatcher.shared.unwatch(w) }
        let timer = Task { try? await Task.sleep(for: timeout); cont.finish() }
        defer { timer.cancel() }
        if FS.exists(path) { return }
        for await _ in stream where FS.exists(path) { return }
        throw BerthError.system("\(path) did not appear")
    }

    func kill9() {
        Syscall.kill(pid, SIGKILL)
        _ = Subprocess.waitStatus(pid)
    }

    func terminate() {
        Syscall.kill(pid, SIGTERM)
        _ = Subprocess.waitStatus(pid)
    }

    func loadBusybox() async throws {
        let out = try await client.loadImage(BusyboxImage.archive)
        #expect(out.contains("Loaded image: busybox:latest"))
    }

    /// Runs the real docker CLI against this daemon.
    func docker(_ args: String..., input: String? = nil) async throws -> Subprocess.Result {
        try await docker(args, input: input)
    }

    func docker(_ args: [String], input: String? = nil) async throws -> Subprocess.Result {
        var env = ProcessInfo.processInfo.environment
        env["DOCKER_HOST"] = dockerHost
        env["DOCKER_CLI_HINTS"] = "false"
        env["DOCKER_CONFIG"] = root + "/docker-config"   // logins stay with this test
        return try await Subprocess.run(["docker"] + args, env: env.map { "\($0.key)=\($0.value)" },
                                        input: input.map { Array($0.utf8) })
    }

    /// Removes every container, stops berthd and deletes the test's files.
    func cleanup() async {
        if Syscall.processExists(pid) {
            for c in (try? await client.containers(all: true)) ?? [] { try? await client.removeContainer(c.Id, force: true) }
            terminate()
        }
        // Whatever still runs (a test that killed berthd) goes too.
        let runcRoot = root + "/exec/runc"
        if let ids = try? Subprocess.runBlocking(["runc", "--root", runcRoot, "list", "-q"]).stdoutText {
            for id in ids.split(separator: "\n") {
                _ = try? Subprocess.runBlocking(["runc", "--root", runcRoot, "delete", "--force", String(id)])
            }
        }
        if let mounts = FS.readText("/proc/self/mountinfo") {
            for line in mounts.split(separator: "\n") {
                let f = line.split(separator: " ")
                if f.count > 4, f[4].hasPrefix(root) { umount2(String(f[4]), Int32(MNT_DETACH)) }
            }
        }
        if ProcessInfo.processInfo.environment["BERTH_KEEP_TEST_DIRS"] == nil { FS.removeAll(root) }
    }
}

/// Keeps a TestDaemon alive for the body and always cleans up.
func withDaemon(extraArgs: [String] = [], _ body: (TestDaemon) async throws -> Void) async throws {
    let d = try TestDaemon(extraArgs: extraArgs)
    do {
        try await d.start()
        try await body(d)
    } catch {
        await d.cleanup()
        throw error
    }
    await d.cleanup()
}

extension TestDaemon {
    /// `docker inspect -f FORMAT NAME`, trimmed.
    func inspect(_ name: String, _ format: String) async throws -> String {
        try await docker("inspect", "-f", format, name).stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Waits (bounded) until `condition` holds, checking every 50 ms; the last check decides.
func eventually(_ timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

extension TestDaemon {
    /// `docker build` with the classic builder (the CLI's BuildKit off), against this daemon.
    func dockerBuild(_ args: [String], input: String? = nil) async throws -> Subprocess.Result {
        var env = ProcessInfo.processInfo.environment
        env["DOCKER_HOST"] = dockerHost
        env["DOCKER_BUILDKIT"] = "0"
        env["DOCKER_CONFIG"] = root + "/docker-config"
        return try await Subprocess.run(["docker", "build"] + args, env: env.map { "\($0.key)=\($0.value)" }, input: input.map { Array($0.utf8) })
    }

    /// The ids of the containers runc runs for this daemon (hidden ones included).
    func runcContainers() async throws -> [String] {
        try await Subprocess.run(["runc", "--root", root + "/exec/runc", "list", "-q"]).stdoutText.split(separator: "\n").map(String.init)
    }
}
