import BerthClient
import BerthModels
import BerthSystem
import Foundation
import Testing

/// TTYs, stdin, exec, cp, stats, top, events, pause, diff — through the real docker CLI.
@Suite(.serialized, .enabled(if: Gate.runtime, Gate.runtimeReason)) struct InteractiveTests {
    @Test func stdinTTYAndExec() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            #expect(try await d.docker("run", "--rm", "-i", "busybox", "cat", input: "piped\n").stdoutText == "piped\n")
            #expect(try await d.docker("run", "--rm", "-t", "busybox", "tty").stdoutText.hasPrefix("/dev/pts/"))
            #expect(try await d.docker("run", "-d", "--name", "it-s", "busybox", "sleep", "300").status == 0)
            let e = try await d.docker("exec", "-e", "X=1", "-w", "/tmp", "-u", "1000", "it-s", "sh", "-c", "echo $X $(pwd) $(id -u)")
            #expect(e.stdoutText == "1 /tmp 1000\n")
            #expect(try await d.docker("exec", "-i", "it-s", "cat", input: "in\n").stdoutText == "in\n")
            // A TTY exec needs a terminal on the client side: script(1) provides one.
            let tty = try await Subprocess.run(["script", "-qec", "docker -H \(d.dockerHost) exec -it it-s tty", "/dev/null"])
            #expect(tty.stdoutText.hasPrefix("/dev/pts/"))
            #expect(try await d.docker("top", "it-s").stdoutText.contains("sleep 300"))
            let stats = try await d.client.http.request(.GET, "/containers/it-s/stats?stream=0&one-shot=1")
            let s = try JSONDecoder().decode(ContainerStats.self, from: Data(stats.body))
            #expect(s.name == "/it-s" && (s.memory_stats.usage ?? 0) > 0 && s.cpu_stats.cpu_usage.total_usage > 0)
            #expect((s.pids_stats.current ?? 0) >= 1)
            // The docker CLI decodes the same stream.
            let cli = try await d.docker("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}", "it-s")
            #expect(cli.status == 0 && cli.stdoutText.hasPrefix("it-s 1 ") && cli.stdoutText.contains("iB"))
            #expect(try await d.docker("pause", "it-s").status == 0)
            #expect(try await d.docker("inspect", "-f", "{{.State.Status}}", "it-s").stdoutText == "paused\n")
            let refused = try await d.docker("exec", "it-s", "true")
            #expect(refused.status != 0 && refused.stderrText.contains("paused"))
            #expect(try await d.docker("unpause", "it-s").status == 0)
            #expect(try await d.docker("update", "--memory", "96m", "--memory-swap", "192m", "it-s").status == 0)
            #expect(try await d.docker("exec", "it-s", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes").stdoutText == "100663296\n")
            #expect(try await d.docker("inspect", "-f", "{{.HostConfig.Memory}}", "it-s").stdoutText == "100663296\n")
        }
    }

    @Test func copyStaysInsideTheContainer() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            #expect(try await d.docker("run", "-d", "--name", "it-cp", "busybox", "sleep", "300").status == 0)
            // Hostile links inside the container: to its root, and climbing with ../..
            #expect(try await d.docker("exec", "it-cp", "sh", "-c", "ln -s / /tmp/root && ln -s ../../../../.. /tmp/up && echo inner > /marker").status == 0)
            let local = d.root + "/payload.txt"
            try FS.write(local, "payload\n")
            let marker = "berth-cp-escape-" + String(Identifier.random64().prefix(8))
            #expect(try await d.docker("cp", local, "it-cp:/tmp/root/" + marker).status == 0)
            #expect(!FS.exists("/" + marker))
            #expect(try await d.docker("exec", "it-cp", "cat", "/" + marker).stdoutText == "payload\n")
            #expect(try await d.docker("cp", local, "it-cp:/tmp/up/tmp/" + marker).status == 0)
            #expect(!FS.exists("/tmp/" + marker))
            // Reading through the links gets the container's files, not the host's.
            let out = d.root + "/out"
            #expect(try await d.docker("cp", "it-cp:/tmp/up/marker", out).status == 0)
            #expect(try String(contentsOfFile: out, encoding: .utf8) == "inner\n")
            let dir = d.root + "/dir"
            try FS.mkdirAll(dir + "/sub")
            try FS.write(dir + "/sub/f", "deep\n")
            #expect(try await d.docker("cp", dir, "it-cp:/tmp/").status == 0)
            #expect(try await d.docker("exec", "it-cp", "cat", "/tmp/dir/sub/f").stdoutText == "deep\n")
            let diff = try await d.docker("diff", "it-cp").stdoutText
            #expect(diff.contains("A /marker") && diff.contains("C /tmp") && !diff.contains("/etc/hosts"))
            let export = try await d.docker("export", "-o", d.root + "/export.tar", "it-cp")
            #expect(export.status == 0)
            let list = try await Subprocess.run(["tar", "-tf", d.root + "/export.tar"]).stdoutText
            #expect(list.contains("bin/busybox") && list.contains("marker"))
        }
    }

    @Test func eventsRecordTheLifecycle() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let since = String(Timestamp.nowNanos() / 1_000_000_000 - 1)
            #expect(try await d.docker("run", "--name", "it-ev", "busybox", "true").status == 0)
            let until = String(Timestamp.nowNanos() / 1_000_000_000 + 1)
            let ev = try await d.docker("events", "--since", since, "--until", until, "--filter", "container=it-ev").stdoutText
            for action in ["create", "attach", "start", "die"] { #expect(ev.contains(" \(action) "), "missing \(action)") }
            #expect(ev.contains("exitCode=0"))
        }
    }

    @Test func ttyContainerSurvivesDaemonKill() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            #expect(try await d.docker("run", "-d", "-t", "--name", "it-tty", "busybox", "sh", "-c",
                                       "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo tick$i; sleep 0.2; done").status == 0)
            d.kill9()
            try await d.start()
            let attached = try await d.docker("attach", "--no-stdin", "it-tty")
            #expect(attached.stdoutText.contains("tick20"))
            #expect(try await d.docker("run", "-d", "--name", "it-after", "busybox", "sleep", "300").status == 0)
            let tty = try await Subprocess.run(["script", "-qec", "docker -H \(d.dockerHost) exec -it it-after tty", "/dev/null"])
            #expect(tty.stdoutText.hasPrefix("/dev/pts/"))
        }
    }
}
