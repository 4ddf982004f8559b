// NUnit 2.6-compatible tests (the subset Unity Test Framework's NUnit 3 also runs) of the
// Unity package against a live server; bindings/run-tests sets ASOBI_TEST_HTTP/QUIC/PIN.
using System;
using System.Threading;
using System.Threading.Tasks;
using NUnit.Framework;

namespace Asobi.Tests
{
    [TestFixture]
    public class AsobiClientTests
    {
        static readonly string Http = Environment.GetEnvironmentVariable("ASOBI_TEST_HTTP");
        static readonly string Quic = Environment.GetEnvironmentVariable("ASOBI_TEST_QUIC");
        static readonly string Pin = Environment.GetEnvironmentVariable("ASOBI_TEST_PIN");
        static int names;

        static string Name(string prefix)
        {
            return prefix + "_" + System.Diagnostics.Process.GetCurrentProcess().Id + "_" + Interlocked.Increment(ref names);
        }

        // Frames (Update on every client, 5 ms) until done() or ~10 s.
        static bool Frames(Func<bool> done, params AsobiClient[] clients)
        {
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!done() && DateTime.UtcNow < deadline)
            {
                foreach (var c in clients) c.Update();
                Thread.Sleep(5);
            }
            return done();
        }

        static T Await<T>(Task<T> task, params AsobiClient[] clients)
        {
            Assert.IsTrue(Frames(() => task.IsCompleted, clients), "timed out");
            return task.Result;
        }

        static void Await(Task task, params AsobiClient[] clients)
        {
            Assert.IsTrue(Frames(() => task.IsCompleted, clients), "timed out");
            task.Wait();
        }

        static AsobiClient Player(bool overQuic, out string playerId)
        {
            var client = new AsobiClient(Http);
            if (overQuic) client.UseQuic(Quic, Pin);
            playerId = Await(client.Auth.RegisterAsync(Name("cs"), "correct-horse-battery"), client).PlayerId;
            Await(client.Realtime.ConnectAsync(), client);
            return client;
        }

        [Test]
        public void LogsInAndReportsWrongPasswords()
        {
            using (var client = new AsobiClient(Http))
            {
                string name = Name("cslogin");
                var created = Await(client.Auth.RegisterAsync(name, "correct-horse-battery"), client);
                var wrong = client.Auth.LoginAsync(name, "not-the-password");
                Assert.IsTrue(Frames(() => wrong.IsCompleted, client));
                Assert.IsTrue(wrong.IsFaulted);
                var error = (AsobiException)wrong.Exception.InnerException;
                Assert.AreEqual("auth.invalid_credentials", error.Code);
                Assert.AreEqual(401, error.HttpStatus);
                var session = Await(client.Auth.LoginAsync(name, "correct-horse-battery"), client);
                Assert.AreEqual(created.PlayerId, session.PlayerId);
            }
        }

        [Test]
        public void MatchmakesTwoClientsAndReceivesMatchStateAfterInput()
        {
            string aId, bId;
            using (var a = Player(true, out aId))
            using (var b = Player(false, out bId))
            {
                int matched = 0;
                a.Realtime.OnMatched += json => matched++;
                b.Realtime.OnMatched += json => { matched++; StringAssert.Contains(aId, json); };
                Await(a.Matchmaker.AddAsync("duel"), a);
                Await(b.Matchmaker.AddAsync("duel", "{\"skill\": 5}"), b);
                Assert.IsTrue(Frames(() => matched == 2, a, b));

                double x = 0;
                b.Realtime.OnMatchState += json => b.Realtime.TryMatchStateNumber("/players/" + aId + "/x", out x);
                a.Realtime.SendMatchInput("{\"dx\": 9}");
                Assert.IsTrue(Frames(() => x == 9, a, b));
                Assert.IsNotNull(bId);
            }
        }

        [Test]
        public void MisuseIsAnErrorNotACrash()
        {
            Assert.Throws<AsobiException>(() => new AsobiClient("not a url"));
            var client = new AsobiClient(Http);
            var e = Assert.Throws<AsobiException>(() => client.Realtime.SendMatchInput("{}"));
            Assert.AreEqual("NotConnected", e.Code);
            e = Assert.Throws<AsobiException>(() => client.Realtime.Send("match.input", "{"));
            Assert.AreEqual("InvalidJson", e.Code);
            client.Dispose();
            client.Dispose();
            // A disposed client answers with a status, not a crash.
            Assert.Throws<AsobiException>(() => client.Realtime.SendMatchInput("{}"));
        }

        [Test]
        public void ShutsDownCleanly()
        {
            string id;
            var client = Player(true, out id);
            bool closed = false;
            client.Realtime.OnClosed += () => closed = true;
            Await(client.Realtime.CloseAsync(), client);
            Assert.IsTrue(Frames(() => closed, client));
            client.Dispose();
            Assert.AreEqual(0UL, AsobiClient.LiveClients());
        }
    }
}
