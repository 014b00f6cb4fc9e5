#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation
import Testing

/// `docker build` (the classic builder) with real runc: stages, args, .dockerignore, cache,
/// a failing RUN, a Dockerfile on stdin.
@Suite(.enabled(if: Gate.runtime, Gate.runtimeReason)) struct BuildTests {
    @Test func multiStageArgsIgnoreCacheAndFailures() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let ctx = d.root + "/ctx"
            try FS.mkdirAll(ctx + "/dir")
            try FS.mkdirAll(ctx + "/ignored")
            try FS.write(ctx + "/file.txt", "file content\n")
            try FS.write(ctx + "/dir/a", "in dir\n")
            try FS.write(ctx + "/ignored/s", "secret\n")
            try FS.write(ctx + "/.dockerignore", "ignored\n")
            try FS.write(ctx + "/Dockerfile", """
                ARG BASE=busybox
                FROM ${BASE} AS base
                ARG GREETING=hello
                ENV APP=/app
                WORKDIR $APP
                COPY file.txt dir ./
                RUN echo "$GREETING from build" > greeting && echo "u:x:1001:1001::/app:/bin/sh" >> /etc/passwd
                COPY --chown=u:1001 file.txt owned
                USER u
                CMD ["cat", "/app/greeting"]

                FROM scratch AS unused
                COPY missing-on-purpose /x

                FROM scratch
                COPY --from=base /bin/busybox /bin/busybox
                COPY --from=base /app/greeting /greeting
                CMD ["/bin/busybox", "cat", "/greeting"]
                """)
            let first = try await d.dockerBuild(["--target", "base", "--build-arg", "GREETING=hi", "-t", "it/built:1", ctx])
            #expect(first.status == 0 && first.stdoutText.contains("Successfully tagged it/built:1"), "\(first.stdoutText) \(first.stderrText)")
            #expect(try await d.docker("run", "--rm", "it/built:1").stdoutText == "hi from build\n")
            let files = try await d.docker("run", "--rm", "it/built:1", "sh", "-c", "cat file.txt a; stat -c %u owned; whoami; test -e ignored && echo leaked || echo ok")
            #expect(files.stdoutText == "file content\nin dir\n1001\nu\nok\n", "\(files.stdoutText) \(files.stderrText)")
            let again = try await d.dockerBuild(["--target", "base", "--build-arg", "GREETING=hi", "-t", "it/built:1", ctx])
            #expect(again.stdoutText.contains(" ---> Using cache") && !again.stdoutText.contains("Running in"), "\(again.stdoutText)")
            let changed = try await d.dockerBuild(["--target", "base", "--build-arg", "GREETING=other", "-t", "it/built:2", ctx])
            #expect(changed.stdoutText.contains("Running in"), "a changed build arg reruns RUN")
            // `docker builder prune` forgets the cache: the same build runs its steps again.
            #expect(try await d.docker("builder", "prune", "-f").status == 0)
            let afterPrune = try await d.dockerBuild(["--target", "base", "--build-arg", "GREETING=other", "-t", "it/built:2", ctx])
            #expect(afterPrune.stdoutText.contains("Running in") && !afterPrune.stdoutText.contains("Using cache"), "\(afterPrune.stdoutText)")

            // The final stage: the unused stage is skipped; two layers, from scratch.
            let final = try await d.dockerBuild(["-t", "it/final:1", ctx])
            #expect(final.status == 0, "\(final.stdoutText) \(final.stderrText)")
            #expect(try await d.docker("run", "--rm", "it/final:1").stdoutText == "hello from build\n")
            #expect(try await d.inspect("it/final:1", "{{len .RootFS.Layers}}") == "2")

            try FS.write(d.root + "/Dockerfile.fail", "FROM busybox\nRUN exit 7\n")
            let fail = try await d.dockerBuild(["-f", d.root + "/Dockerfile.fail", ctx])
            #expect(fail.status != 0 && fail.stderrText.contains("The command '/bin/sh -c exit 7' returned a non-zero code: 7"), "\(fail.stderrText)")
            // A failed step is not cached: the same build fails the same way again.
            let again2 = try await d.dockerBuild(["-f", d.root + "/Dockerfile.fail", ctx])
            #expect(again2.status != 0 && again2.stderrText.contains("returned a non-zero code: 7"), "\(again2.stdoutText)")
            let stdin = try await d.dockerBuild(["-q", "-"], input: "FROM busybox\nRUN true\n")
            #expect(stdin.status == 0 && stdin.stdoutText.hasPrefix("sha256:"), "\(stdin.stdoutText) \(stdin.stderrText)")
            let bad = try await d.dockerBuild(["-"], input: "FROM busybox\nBOGUS x\n")
            // Refused before any output: an HTTP error, as dockerd answers it.
            #expect(bad.status != 0 && bad.stderrText.contains("Error response from daemon: dockerfile parse error on line 2: unknown instruction: BOGUS"), "\(bad.stderrText)")
            // A quiet build that fails shows what it printed, stderr marked red as dockerd marks it.
            let quietFail = try await d.dockerBuild(["-q", "-"], input: "FROM busybox\nRUN echo out; echo err >&2; exit 4\n")
            #expect(quietFail.status != 0 && quietFail.stderrText.contains("Step 2/2 : RUN echo out") && quietFail.stderrText.contains("out\n")
                    && quietFail.stderrText.contains("\u{1b}[91merr\n\u{1b}[0m") && quietFail.stderrText.contains("returned a non-zero code: 4"),
                    "\(quietFail.stderrText)")
            // No container is left behind by RUN steps, failed or not.
            #expect(try await d.docker("ps", "-aq").stdoutText.isEmpty)
            // Removing the results takes their intermediate images with them (the skipped-over
            // stage images of the multi-stage build stay dangling, as with dockerd).
            let before = try await d.docker("images", "-aq").stdoutText.split(separator: "\n").count
            _ = try await d.docker("rmi", "it/final:1", "it/built:1", "it/built:2")
            let left = try await d.docker("images", "-aq").stdoutText.split(separator: "\n").count
            #expect(left <= before - 16, "\(before) → \(left)")
        }
    }

    /// ONBUILD triggers run when the image is a base; the build's network mode reaches RUN;
    /// a RUN step's output arrives in the stream.
    @Test func onbuildNetworkAndOutput() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let ctx = d.root + "/ctx2"
            try FS.mkdirAll(ctx)
            try FS.write(ctx + "/Dockerfile", "FROM busybox\nONBUILD RUN echo triggered > /t\n")
            #expect(try await d.dockerBuild(["-t", "it/onbuild:1", ctx]).status == 0)
            try FS.write(ctx + "/Dockerfile", "FROM it/onbuild:1\nRUN cat /t; ls /sys/class/net\n")
            let child = try await d.dockerBuild(["--network", "none", "-t", "it/child:1", ctx])
            #expect(child.status == 0 && child.stdoutText.contains("# Executing 1 build trigger"), "\(child.stdoutText) \(child.stderrText)")
            #expect(child.stdoutText.contains("triggered\nlo\n"), "\(child.stdoutText)")
            #expect(try await d.inspect("it/child:1", "{{json .Config.OnBuild}}") == "null")
        }
    }

    /// A kill -9 of berthd in the middle of a RUN: the next berthd removes the step container
    /// (process and record), and nothing of the build is left in its staging area.
    @Test func killedMidBuildLeavesNothing() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let ctx = d.root + "/ctx3"
            try FS.mkdirAll(ctx)
            try FS.write(ctx + "/Dockerfile", "FROM busybox\nRUN sleep 60\n")
            var env = ProcessInfo.processInfo.environment
            env["DOCKER_HOST"] = d.dockerHost
            env["DOCKER_BUILDKIT"] = "0"
            let client = try Subprocess.spawn(["docker", "build", ctx], env: env.map { "\($0.key)=\($0.value)" })
            defer { kill(client, SIGKILL); _ = Subprocess.waitStatus(client) }
            #expect(await eventually(.seconds(20)) { !((try? await d.runcContainers())?.isEmpty ?? true) })
            let id = try await d.runcContainers().first ?? ""
            #expect(try await d.docker("ps", "-aq").stdoutText.isEmpty, "step containers are not listed")
            d.kill9()
            try await d.start()
            #expect(await eventually(.seconds(20)) { (try? await d.runcContainers())?.isEmpty == true })
            #expect(try await d.docker("inspect", id).status != 0)
            let tmp = (try? FileManager.default.contentsOfDirectory(atPath: d.root + "/data/tmp")) ?? []
            #expect(!tmp.contains { $0.hasPrefix("build") }, "\(tmp)")
        }
    }

    /// `docker build URL`: a tarball and a Dockerfile alone fetched by berthd (remote=).
    @Test func remoteContexts() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let src = d.root + "/remote-src"
            try FS.mkdirAll(src)
            try FS.write(src + "/Dockerfile", "FROM busybox\nCOPY hello.txt /hello.txt\nCMD [\"cat\", \"/hello.txt\"]\n")
            try FS.write(src + "/hello.txt", "from a remote tarball\n")
            #expect(try await Subprocess.run(["tar", "-C", src, "-cf", d.root + "/ctx.tar", "."]).status == 0)
            let tarball = Array(try FS.read(d.root + "/ctx.tar"))
            let dockerfileOnly = Array("FROM busybox\nRUN echo remote-dockerfile > /r\nCMD [\"cat\", \"/r\"]\n".utf8)
            let server = try LoopbackServer { c in
                guard let head = readRequestHead(c) else { return }
                let body = head.hasPrefix("GET /ctx.tar ") ? tarball : head.hasPrefix("GET /Dockerfile ") ? dockerfileOnly : []
                let status = body.isEmpty ? "404 Not Found" : "200 OK"
                writeAll(c, "HTTP/1.1 \(status)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n")
                _ = body.withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
            }
            defer { server.stop() }
            let fromTar = try await d.dockerBuild(["-t", "it/remote:1", "http://127.0.0.1:\(server.port)/ctx.tar"])
            #expect(fromTar.status == 0, "\(fromTar.stdoutText) \(fromTar.stderrText)")
            #expect(try await d.docker("run", "--rm", "it/remote:1").stdoutText == "from a remote tarball\n")
            let fromFile = try await d.dockerBuild(["-t", "it/remote:2", "http://127.0.0.1:\(server.port)/Dockerfile"])
            #expect(fromFile.status == 0, "\(fromFile.stdoutText) \(fromFile.stderrText)")
            #expect(try await d.docker("run", "--rm", "it/remote:2").stdoutText == "remote-dockerfile\n")
            let missing = try await d.dockerBuild(["http://127.0.0.1:\(server.port)/nothing.tar"])
            #expect(missing.status != 0 && missing.stderrText.contains("404"), "\(missing.stderrText)")
        }
    }

    /// `remote=` a git repository, cloned by berthd (the docker CLI clones git URLs itself, so
    /// this speaks the API): `#ref:subdir`, over a "dumb" HTTP server (no shallow clone: berthd
    /// falls back to a full one), and a link in the repository cannot make the host the context.
    @Test(.enabled(if: Gate.onPath("git"), "needs git")) func gitRemoteContext() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let work = d.root + "/git-work"
            try FS.mkdirAll(work + "/app")
            try FS.write(work + "/app/Dockerfile", "FROM busybox\nCOPY msg /msg\nCMD [\"cat\", \"/msg\"]\n")
            try FS.write(work + "/app/msg", "from git\n")
            _ = symlink("/", work + "/escape")
            let git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
            for argv in [git + ["init", "-q", "-b", "main", work], git + ["-C", work, "add", "-A"],
                         git + ["-C", work, "commit", "-q", "-m", "one"],
                         git + ["clone", "-q", "--bare", work, d.root + "/srv/repo.git"],
                         git + ["-C", d.root + "/srv/repo.git", "update-server-info"]] {
                let r = try await Subprocess.run(argv)
                #expect(r.status == 0, "\(argv): \(r.stderrText)")
            }
            let served = d.root + "/srv"
            let server = try LoopbackServer { c in
                guard let head = readRequestHead(c), let target = head.split(separator: " ").dropFirst().first else { return }
                let path = String(target.split(separator: "?").first ?? "")
                let file = served + path
                if !path.contains(".."), FS.exists(file), !FS.isDirectory(file), let body = try? FS.read(file) {
                    writeAll(c, "HTTP/1.1 200 OK\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n")
                    _ = body.withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
                } else {
                    writeAll(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                }
            }
            defer { server.stop() }
            func build(_ remote: String, tag: String) async throws -> String {
                let q = remote.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
                return try await Subprocess.run(["curl", "-s", "--unix-socket", d.root + "/berth.sock", "-X", "POST",
                                                 "http://localhost/v1.47/build?t=\(tag)&remote=\(q)"]).stdoutText
            }
            let url = "http://127.0.0.1:\(server.port)/repo.git"
            let out = try await build(url + "#main:app", tag: "it/git:1")
            #expect(out.contains("Successfully tagged it/git:1"), "\(out)")
            #expect(try await d.docker("run", "--rm", "it/git:1").stdoutText == "from git\n")
            // `escape` is a link to / in the repository: resolved inside the checkout, where
            // there is no etc.
            let hostile = try await build(url + "#main:escape/etc", tag: "it/git:2")
            #expect(hostile.hasPrefix("{\"message\":") && hostile.contains("not found in the repository"), "\(hostile)")
            let missing = try await build("http://127.0.0.1:\(server.port)/none.git", tag: "it/git:3")
            #expect(missing.contains("unable to 'git clone'"), "\(missing)")
        }
    }

    /// FROM an image that is not here: pulled from its registry, progress in the build's output.
    @Test(.enabled(if: Gate.onPath("docker-registry"), "needs docker-registry")) func fromPullsMissingImages() async throws {
        try await withRegistry { reg in
            try await withDaemon { d in
                try await d.loadBusybox()
                let image = "\(reg.host)/it/base:1"
                #expect(try await d.docker("tag", "busybox", image).status == 0)
                #expect(try await d.docker("push", image).status == 0)
                #expect(try await d.docker("rmi", image, "busybox").status == 0)
                let ctx = d.root + "/ctx4"
                try FS.mkdirAll(ctx)
                try FS.write(ctx + "/Dockerfile", "FROM \(image)\nRUN echo built-on-pulled > /p\n")
                let b = try await d.dockerBuild(["-t", "it/onpulled:1", ctx])
                #expect(b.status == 0 && b.stdoutText.contains("Pulling from it/base"), "\(b.stdoutText) \(b.stderrText)")
                #expect(try await d.docker("run", "--rm", "it/onpulled:1", "cat", "/p").stdoutText == "built-on-pulled\n")
                let again = try await d.dockerBuild(["--pull", "-t", "it/onpulled:1", ctx])
                #expect(again.status == 0 && again.stdoutText.contains("Image is up to date"), "\(again.stdoutText)")
            }
        }
    }

    /// Contexts compressed with bzip2 or xz (sent through the API as SDKs may), and ADD of a URL.
    @Test func compressedContextsAndAddURL() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let served = Array("served file\n".utf8)
            let server = try LoopbackServer { c in
                guard readRequestHead(c) != nil else { return }
                writeAll(c, "HTTP/1.1 200 OK\r\nContent-Length: \(served.count)\r\nConnection: close\r\n\r\n")
                _ = served.withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
            }
            defer { server.stop() }
            let src = d.root + "/zsrc"
            try FS.mkdirAll(src)
            try FS.write(src + "/Dockerfile", "FROM busybox\nCOPY f /f\nADD http://127.0.0.1:\(server.port)/remote.txt /r/\n")
            try FS.write(src + "/f", "in context\n")
            #expect(try await Subprocess.run(["tar", "-C", src, "-cf", d.root + "/z.tar", "."]).status == 0)
            for (tool, tag) in [("bzip2", "bz"), ("xz", "xz")] {
                let packed = d.root + "/z-\(tag).tar"
                _ = try await Subprocess.run(["cp", d.root + "/z.tar", packed])
                #expect(try await Subprocess.run([tool, "-f", packed]).status == 0)
                let file = packed + (tool == "xz" ? ".xz" : ".bz2")
                let r = try await Subprocess.run(["curl", "-s", "--unix-socket", d.root + "/berth.sock", "-X", "POST",
                                                  "-H", "Content-Type: application/x-tar", "--data-binary", "@" + file,
                                                  "http://localhost/v1.47/build?t=it/z:\(tag)"])
                #expect(r.stdoutText.contains("Successfully tagged it/z:\(tag)"), "\(tool): \(r.stdoutText)")
                // The download's progress as dockerd reports it, and the result's aux line alone.
                #expect(r.stdoutText.contains(#""status":"Downloading""#), "\(r.stdoutText)")
                #expect(r.stdoutText.split(separator: "\n").contains { $0.hasPrefix(#"{"aux":{"ID":"sha256:"#) && !$0.contains("progressDetail") })
                let out = try await d.docker("run", "--rm", "it/z:\(tag)", "sh", "-c", "cat /f /r/remote.txt; stat -c %a /r/remote.txt")
                #expect(out.stdoutText == "in context\nserved file\n600\n", "\(out.stdoutText) \(out.stderrText)")
            }
        }
    }

    /// POST /build/cancel stops a build by its buildid: its step container goes at once.
    @Test func cancelByBuildID() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let ctx = d.root + "/ctx5"
            try FS.mkdirAll(ctx)
            try FS.write(ctx + "/Dockerfile", "FROM busybox\nRUN sleep 60\n")
            #expect(try await Subprocess.run(["tar", "-C", ctx, "-cf", d.root + "/c.tar", "."]).status == 0)
            let sock = d.root + "/berth.sock"
            let client = try Subprocess.spawn(["curl", "-s", "--unix-socket", sock, "-X", "POST", "-H", "Content-Type: application/x-tar",
                                               "--data-binary", "@" + d.root + "/c.tar", "http://localhost/v1.47/build?buildid=it-cancel"])
            defer { kill(client, SIGKILL); _ = Subprocess.waitStatus(client) }
            #expect(await eventually(.seconds(20)) { !((try? await d.runcContainers())?.isEmpty ?? true) })
            let cancel = try await Subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", sock, "-X", "POST",
                                                   "http://localhost/v1.47/build/cancel?id=it-cancel"])
            #expect(cancel.stdoutText == "200")
            #expect(await eventually(.seconds(20)) { (try? await d.runcContainers())?.isEmpty == true })
            let again = try await Subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", sock, "-X", "POST",
                                                  "http://localhost/v1.47/build/cancel?id=it-cancel"])
            #expect(again.stdoutText == "404")
        }
    }

    /// History texts as dockerd writes them (the COPY text names the files by dockerd's checksum,
    /// so this one is the value the reference dockerd wrote for the same file), and `--cache-from`:
    /// an image saved, removed and loaded back (no parents, no cache rows) stands for every step.
    @Test func historyTextsAndCacheFrom() async throws {
        try await withDaemon { d in
            try await d.loadBusybox()
            let ctx = d.root + "/ctx6"
            try FS.mkdirAll(ctx + "/d")
            try FS.write(ctx + "/a.txt", "hello\n")
            try FS.write(ctx + "/d/one", "1\n")
            _ = chmod(ctx + "/a.txt", 0o644)
            try FS.write(ctx + "/Dockerfile", """
                FROM busybox
                ARG V=1
                ENV E=2 F="two words"
                RUN echo $V > /v
                COPY a.txt /x/
                COPY d /d
                VOLUME /data
                ENTRYPOINT ["cat"]
                HEALTHCHECK --interval=5s --retries=3 CMD true
                CMD ["/v"]
                """)
            let first = try await d.dockerBuild(["-t", "it/cf:1", ctx])
            #expect(first.status == 0, "\(first.stdoutText) \(first.stderrText)")
            let history = try await d.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", "it/cf:1").stdoutText
            let lines = history.split(separator: "\n").map(String.init)
            #expect(lines.prefix(8) == [
                #"/bin/sh -c #(nop)  CMD ["/v"]"#,
                #"/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" "0s" '\x03'}"#,
                #"/bin/sh -c #(nop)  ENTRYPOINT ["cat"]"#,
                "/bin/sh -c #(nop)  VOLUME [/data]",
                lines.count > 4 ? lines[4] : "",
                "/bin/sh -c #(nop) COPY file:00ec16333078d287782d462baefc8bb9eb0231dc3aefba3ca3e2f7e5cf0cadda in /x/ ",
                "|1 V=1 /bin/sh -c echo $V > /v",
                #"/bin/sh -c #(nop)  ENV E=2 F=two words"#,
            ], "\(history)")
            #expect(lines.count > 4 && lines[4].hasPrefix("/bin/sh -c #(nop) COPY dir:") && lines[4].hasSuffix(" in /d "))
            // Each history row names its step's image while it is here, as dockerd's history does.
            let ids = try await d.docker("history", "--format", "{{.ID}}", "it/cf:1").stdoutText
            #expect(!ids.contains("<missing>") && ids.split(separator: "\n").count == lines.count, "\(ids)")
            // Layers: busybox, the RUN and the two COPYs; the configuration steps add none.
            #expect(try await d.inspect("it/cf:1", "{{len .RootFS.Layers}}") == "4")
            // A container that changed nothing commits to no new layer (an empty_layer entry).
            #expect(try await d.docker("run", "--name", "it-cf-same", "busybox", "true").status == 0)
            #expect(try await d.docker("commit", "it-cf-same", "it/cf:same").status == 0)
            #expect(try await d.inspect("it/cf:same", "{{len .RootFS.Layers}}") == "1")
            _ = try await d.docker("rm", "it-cf-same")
            // ENTRYPOINT after CMD in one stage keeps it; here CMD came after, so both are set.
            #expect(try await d.docker("run", "--rm", "it/cf:1").stdoutText == "1\n")
            let id = try await d.inspect("it/cf:1", "{{.Id}}")

            // Saved, removed with every intermediate image and loaded back: no local cache.
            #expect(try await d.docker("save", "-o", d.root + "/cf.tar", "it/cf:1").status == 0)
            #expect(try await d.docker("rmi", "it/cf:1").status == 0)
            #expect(try await d.docker("load", "-i", d.root + "/cf.tar").status == 0)
            let plain = try await d.dockerBuild(["-t", "it/cf:2", ctx])
            #expect(plain.stdoutText.contains("Running in"), "no cache without --cache-from: \(plain.stdoutText)")
            #expect(try await d.docker("rmi", "it/cf:2").status == 0)
            let cached = try await d.dockerBuild(["--cache-from", "it/cf:1", "-t", "it/cf:3", ctx])
            #expect(cached.status == 0 && !cached.stdoutText.contains("Running in"), "\(cached.stdoutText)")
            #expect(cached.stdoutText.components(separatedBy: " ---> Using cache").count - 1 == 9, "\(cached.stdoutText)")
            #expect(try await d.inspect("it/cf:3", "{{.Id}}") == id)

            // A changed file: that COPY and the steps after it run; the steps before are found.
            try FS.write(ctx + "/d/one", "2\n")
            let changed = try await d.dockerBuild(["--cache-from", "it/cf:1", "-t", "it/cf:4", ctx])
            #expect(changed.status == 0 && changed.stdoutText.components(separatedBy: " ---> Using cache").count - 1 == 4, "\(changed.stdoutText)")
            #expect(try await d.docker("run", "--rm", "--entrypoint", "cat", "it/cf:4", "/d/one").stdoutText == "2\n")

            // The step cache in `system df`: one record per cached step, described by its history
            // text, sized by its layer; `builder prune` lists what it forgot.
            let df = try await d.docker("system", "df", "-v", "--format", "{{json .BuildCache}}").stdoutText
            let records = try JSONSerialization.jsonObject(with: Data(df.utf8)) as? [[String: Any]] ?? []
            #expect(records.contains { ($0["Description"] as? String)?.hasSuffix(" in /d ") == true }, "\(df)")
            #expect(records.contains { ($0["Description"] as? String) == "|1 V=1 /bin/sh -c echo $V > /v" }, "\(df)")
            let summary = try await d.docker("system", "df", "--format", "{{.Type}} {{.TotalCount}}").stdoutText
            #expect(summary.contains("Build Cache \(records.count)") && summary.contains("Images 4\n"), "\(summary)")
            let prune = try await d.docker("builder", "prune", "-f").stdoutText
            #expect(prune.split(separator: "\n").count >= records.count, "\(prune)")
            #expect(try await d.docker("system", "df", "--format", "{{.Type}} {{.TotalCount}}").stdoutText.contains("Build Cache 0"))

            // Files from the context are root's in the image whatever their owner on the client;
            // an archive ADD unpacks keeps its owners.
            try FS.write(ctx + "/owned.txt", "mine\n")
            _ = chown(ctx + "/owned.txt", 1000, 1000)
            #expect(try await Subprocess.run(["tar", "--owner=1234", "--group=1234", "-C", ctx, "-cf", ctx + "/arch.tar", "owned.txt"]).status == 0)
            try FS.write(ctx + "/Dockerfile.own", "FROM busybox\nCOPY owned.txt /o\nADD arch.tar /a/\nRUN stat -c %u:%g /o /a/owned.txt\n")
            let owned = try await d.dockerBuild(["--no-cache", "-f", ctx + "/Dockerfile.own", ctx])
            #expect(owned.stdoutText.contains("0:0\n1234:1234\n"), "\(owned.stdoutText)")

            // COPY --from: a file, a directory and a wildcard, named as the reference dockerd named
            // the same files of the same stage.
            let fromStage = try await d.dockerBuild(["--no-cache", "-t", "it/cf:from", "-"], input: """
                FROM busybox AS s
                RUN mkdir -p /app && echo 1 > /app/a.txt && echo 2 > /app/b.txt && echo 3 > /app/c.md
                FROM busybox
                COPY --from=s /app/*.txt /dst/
                COPY --from=s /app /app2
                COPY --from=s /app/a.txt /one
                """)
            #expect(fromStage.status == 0, "\(fromStage.stdoutText) \(fromStage.stderrText)")
            let fromHistory = try await d.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", "it/cf:from").stdoutText
            #expect(fromHistory.hasPrefix("""
                /bin/sh -c #(nop) COPY file:779005a56601c81128e4f879df8797bce92c8cc9044fae5924aeac85c5636d68 in /one \n\
                /bin/sh -c #(nop) COPY dir:520394379e131257e07a400d45d609ca3f9f645aec153bdc79399d90fc45e277 in /app2 \n\
                /bin/sh -c #(nop) COPY multi:4c09a77142a42fe335a834584ce803d50b040024383663c461c354f885cc201b in /dst/ \n
                """), "\(fromHistory)")
            #expect(try await d.docker("run", "--rm", "it/cf:from", "ls", "/dst").stdoutText == "a.txt\nb.txt\n")

            // `--rm=false` keeps the step containers (listed, as dockerd's); by default none stays.
            let kept = try await d.dockerBuild(["--no-cache", "--rm=false", "-"], input: "FROM busybox\nRUN echo kept\n")
            #expect(kept.status == 0 && !kept.stdoutText.contains("Removing intermediate container"), "\(kept.stdoutText)")
            #expect(try await d.docker("ps", "-a", "--no-trunc", "--format", "{{.Command}}").stdoutText.contains("/bin/sh -c 'echo kept'"))
            _ = try await d.docker("container", "prune", "-f")

            // RUN layers are the step containers' upper directories moved into the layer store:
            // deletions (whiteouts) and a directory made again (opaque) hold as lower layers, and
            // the layer's tar says them the OCI way.
            let wh = try await d.dockerBuild(["--no-cache", "-t", "it/cf:wh", "-"], input: """
                FROM busybox
                RUN mkdir -p /d/sub && echo a > /d/a && echo b > /d/sub/b && echo keep > /k
                RUN rm /k && rm -rf /d && mkdir /d && echo new > /d/new
                RUN true
                """)
            #expect(wh.status == 0, "\(wh.stdoutText) \(wh.stderrText)")
            #expect(try await d.docker("run", "--rm", "it/cf:wh", "sh", "-c", "ls -R /d; test -e /k && echo k || echo no-k").stdoutText
                    == "/d:\nnew\nno-k\n")
            #expect(try await d.docker("save", "-o", d.root + "/wh.tar", "it/cf:wh").status == 0)
            let listing = try await Subprocess.run(["sh", "-c", "mkdir -p \(d.root)/wh && tar -C \(d.root)/wh -xf \(d.root)/wh.tar && for f in \(d.root)/wh/blobs/sha256/*; do tar -tf $f 2>/dev/null; done"])
            #expect(listing.stdoutText.contains(".wh.k") && listing.stdoutText.contains("d/.wh..wh..opq")
                    && !listing.stdoutText.contains("etc/hosts"), "\(listing.stdoutText)")

            // Proxy build args reach RUN without an ARG and stay out of the history; a build arg
            // nothing declared is named in dockerd's warning.
            let proxy = try await d.dockerBuild(["--build-arg", "HTTP_PROXY=hp", "--build-arg", "FOO=1", "-t", "it/cf:proxy", "-"],
                                                input: "FROM busybox\nRUN echo p=$HTTP_PROXY\n")
            #expect(proxy.stdoutText.contains("p=hp\n") && proxy.stdoutText.contains("[Warning] One or more build-args [FOO] were not consumed"), "\(proxy.stdoutText)")
            let proxyHistory = try await d.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", "it/cf:proxy").stdoutText
            #expect(proxyHistory.hasPrefix("|0 /bin/sh -c echo p=$HTTP_PROXY\n"), "\(proxyHistory)")
        }
    }
}
