import BerthClient
import BerthModels
import BerthSystem
import Foundation
import Testing

/// berthd for real: runc, conmon, overlayfs, SQLite. Needs root (CI runs as root).
@Suite(.serialized, .enabled(if: Gate.runtime, Gate.runtimeReason)) struct LifecycleTests {
    @Test func apiRunLifecycle() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let images = try await d.client.images()
            #expect(images.contains { $0.RepoTags.contains("busybox:latest") })
            let c = try await d.client.createContainer(name: "it-life", image: "busybox",
                                                       cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"])
            #expect(c.Id.count == 64)
            let created = try await d.client.inspectContainer("it-life")
            #expect(created.State.Status == "created")
            #expect(created.Name == "/it-life")
            try await d.client.startContainer(c.Id)
            let w = try await d.client.wait(c.Id)
            #expect(w.StatusCode == 3)
            let (frames, rest) = StdCopy.parse(try await d.client.logs(c.Id))
            #expect(rest.isEmpty)
            #expect(frames.contains { $0.0 == 1 && $0.1 == Array("out\n".utf8) })
            #expect(frames.contains { $0.0 == 2 && $0.1 == Array("err\n".utf8) })
            let after = try await d.client.inspectContainer(c.Id)
            #expect(after.State.Status == "exited" && after.State.ExitCode == 3 && !after.State.Running)
            try await d.client.removeContainer(c.Id)
            // runc's state and the container's cgroups went with it.
            #expect(!FS.exists(d.root + "/exec/runc/" + c.Id))
            for ctrl in ["memory", "pids", "cpu", "unified"] { #expect(!FS.exists("/sys/fs/cgroup/\(ctrl)/berth/\(c.Id)")) }
            do { _ = try await d.client.inspectContainer(c.Id); Issue.record("still there") } catch let e as APIError {
                #expect(e.status == 404 && e.message.contains("No such container"))
            }
        }
    }

    @Test(.enabled(if: Gate.dockerCLI, Gate.dockerCLIReason)) func dockerCLIEndToEnd() async throws {
        try await withDaemon { d in
            try FS.writeAtomically(d.root + "/busybox.tar", Data(BusyboxImage.archive))
            let load = try await d.docker("load", "-i", d.root + "/busybox.tar")
            #expect(load.status == 0 && load.stdoutText.contains("Loaded image: busybox:latest"))
            #expect(try await d.docker("image", "inspect", "-f", "{{json .Config.Cmd}}", "busybox").stdoutText == "[\"sh\"]\n")
            let hello = try await d.docker("run", "--rm", "busybox", "echo", "hello")
            #expect(hello.status == 0 && hello.stdoutText == "hello\n")
            let split = try await d.docker("run", "--rm", "busybox", "sh", "-c", "echo o; echo e >&2; exit 4")
            #expect(split.status == 4 && split.stdoutText == "o\n" && split.stderrText.contains("e"))
            let uid = try await d.docker("run", "--rm", "-u", "1000", "-w", "/tmp", "busybox", "sh", "-c", "echo $(id -u) $(pwd)")
            #expect(uid.stdoutText == "1000 /tmp\n")
            let mem = try await d.docker("run", "--rm", "--memory", "64m", "busybox", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
            #expect(mem.stdoutText == "67108864\n")
            let id = try await d.docker("run", "-d", "--name", "it-web", "busybox", "sleep", "1000").stdoutText
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(id.count == 64)
            #expect(try await d.docker("ps").stdoutText.contains("it-web"))
            #expect(try await d.docker("exec", "it-web", "hostname").stdoutText == String(id.prefix(12)) + "\n")
            #expect(try await d.docker("exec", "it-web", "sh", "-c", "exit 5").status == 5)
            #expect(try await d.docker("stop", "-t", "1", "it-web").status == 0)
            #expect(try await d.docker("inspect", "-f", "{{.State.ExitCode}}", "it-web").stdoutText == "137\n")
            #expect(try await d.docker("rm", "it-web").status == 0)
            let missing = try await d.docker("run", "--rm", "busybox", "no-such-binary")
            #expect(missing.status != 0 && missing.stderrText.contains("executable file not found"))
            let commitSrc = try await d.docker("run", "--name", "it-src", "busybox", "sh", "-c", "echo new > /newfile")
            #expect(commitSrc.status == 0)
            #expect(try await d.docker("commit", "it-src", "it/committed:1").status == 0)
            #expect(try await d.docker("run", "--rm", "it/committed:1", "cat", "/newfile").stdoutText == "new\n")
            #expect(try await d.docker("create", "--name", "it-user", "it/committed:1", "true").status == 0)
            let rmi = try await d.docker("rmi", "it/committed:1")
            #expect(rmi.status != 0 && rmi.stderrText.contains("conflict"))
        }
    }

    @Test func survivesDaemonKill() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            // 40 lines, one every 100 ms; berthd dies after the first few and comes back.
            let script = "i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo line$i; sleep 0.1; done"
            #expect(try await d.docker("run", "-d", "--name", "it-ticker", "busybox", "sh", "-c", script).status == 0)
            #expect(try await d.docker("run", "-d", "--name", "it-long", "busybox", "sleep", "1000").status == 0)
            var seen = 0
            for _ in 0..<100 where seen < 5 {
                seen = (try await d.docker("logs", "it-ticker")).stdoutText.split(separator: "\n").count
            }
            #expect(seen >= 5)
            d.kill9()
            try await d.start()
            let running = try await d.docker("inspect", "-f", "{{.State.Running}}", "it-ticker")
            #expect(running.stdoutText == "true\n")
            #expect(try await d.docker("wait", "it-ticker").stdoutText == "0\n")
            let lines = try await d.docker("logs", "it-ticker").stdoutText.split(separator: "\n").map(String.init)
            #expect(lines == (1...40).map { "line\($0)" })
            #expect(try await d.docker("inspect", "-f", "{{.State.Running}}", "it-long").stdoutText == "true\n")
            #expect(try await d.docker("stop", "-t", "1", "it-long").status == 0)
            #expect(try await d.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "it-long").stdoutText == "exited 137\n")
        }
    }

    @Test func exitWhileDaemonDownIsRecorded() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let id = try await d.docker("run", "-d", "--name", "it-quick", "busybox", "sh", "-c", "sleep 1; exit 23")
                .stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            d.kill9()
            try await d.waitForFile(d.root + "/exec/exits/" + id)
            try await d.start()
            #expect(try await d.docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "it-quick").stdoutText == "exited 23\n")
        }
    }

    /// Small log files (berthd's --log-opt): the newest three are kept, read as one, and a
    /// follower sees every line across the switches.
    @Test func logsRotateKeepingTheNewestFiles() async throws {
        try await withDaemon(extraArgs: ["--log-opt", "max-size=4k", "--log-opt", "max-file=3"]) { d in
            try await d.loadBusybox()
            // About 50 bytes a line on disk: 300 lines fill four files of 4 KiB and begin a fifth.
            // The writer is paced like a real program's output, not one burst (with room for a busy CI
            // machine: berthd must file each full log before the next one fills, README "Running berthd").
            let script = "while [ ! -e /tmp/go ]; do sleep 0.05; done; i=0; "
                + "while [ $i -lt 300 ]; do i=$((i+1)); echo line$i; [ $((i % 10)) = 0 ] && sleep 0.05; done"
            let id = try await d.docker("run", "-d", "--name", "it-rot", "busybox", "sh", "-c", script)
                .stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            let conn = try HijackTests.RawConn(path: d.socket)
            try conn.send("GET /v1.47/containers/it-rot/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let (head, early) = conn.readHead()
            #expect(head.hasPrefix("HTTP/1.1 200"))
            #expect(try await d.docker("exec", "it-rot", "touch", "/tmp/go").status == 0)
            var body = early + conn.readToEOF()
            if head.lowercased().contains("transfer-encoding: chunked") { body = Self.dechunk(body) }
            let (frames, rest) = StdCopy.parse(body)
            #expect(rest.isEmpty)
            #expect(frames.map { String(decoding: $0.1, as: UTF8.self) } == (1...300).map { "line\($0)\n" })
            #expect(try await d.docker("wait", "it-rot").stdoutText == "0\n")

            let names = try FileManager.default.contentsOfDirectory(atPath: d.root + "/data/containers/" + id)
                .filter { $0.hasPrefix("ctr.log") }.sorted()
            #expect(names == ["ctr.log", "ctr.log.1", "ctr.log.2", "ctr.log.hold"])
            let kept = try await d.docker("logs", "it-rot").stdoutText.split(separator: "\n").map(String.init)
            let firstKept = Int(kept.first?.dropFirst(4) ?? "") ?? 0
            #expect(kept.count > 100 && kept.count < 300)
            #expect(kept == (firstKept...300).map { "line\($0)" })
            #expect(try await d.docker("logs", "--tail", "3", "it-rot").stdoutText == "line298\nline299\nline300\n")
            let own = try await d.docker("run", "--rm", "--log-opt", "max-file=0", "busybox", "true")
            #expect(own.status == 125 && own.stderrText.contains("max-file cannot be less than 1"))
        }
    }

    /// conmon switches to a new log file while berthd is down: the old one is kept (through its
    /// second link) and filed at the next start, and no line is missing.
    @Test func logSwitchWhileDaemonDownKeepsTheOldFile() async throws {
        try await withDaemon(extraArgs: ["--log-opt", "max-size=4k", "--log-opt", "max-file=3"]) { d in
            try await d.loadBusybox()
            // 100 lines of about 50 bytes: one switch to a new file.
            let script = "while [ ! -e /tmp/go ]; do sleep 0.05; done; i=0; while [ $i -lt 100 ]; do i=$((i+1)); echo line$i; done"
            let id = try await d.docker("run", "-d", "--name", "it-rot-down", "busybox", "sh", "-c", script)
                .stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
            d.kill9()
            // Started from the host through the container's root filesystem, with berthd away.
            try FS.write(d.root + "/data/containers/" + id + "/merged/tmp/go", "")
            try await d.waitForFile(d.root + "/exec/exits/" + id)
            try await d.start()
            let names = try FileManager.default.contentsOfDirectory(atPath: d.root + "/data/containers/" + id)
                .filter { $0.hasPrefix("ctr.log") }.sorted()
            #expect(names == ["ctr.log", "ctr.log.1", "ctr.log.hold"])
            let lines = try await d.docker("logs", "it-rot-down").stdoutText.split(separator: "\n").map(String.init)
            #expect(lines == (1...100).map { "line\($0)" })
        }
    }

    /// The body of a chunked HTTP response.
    static func dechunk(_ b: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while let crlf = b[i...].firstRange(of: [13, 10]) {
            guard let size = Int(String(decoding: b[i..<crlf.lowerBound], as: UTF8.self), radix: 16), size > 0 else { break }
            let start = crlf.upperBound
            guard start + size <= b.count else { break }
            out += b[start..<(start + size)]
            i = start + size + 2
            if i >= b.count { break }
        }
        return out
    }
}
