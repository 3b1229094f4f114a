import socket, sys, tempfile, threading, time, json
sys.path.insert(0, "bench")
import common, uvicorn
from simulator.app import create_app
from simulator.settings import Settings
conns = int(sys.argv[1]) if len(sys.argv) > 1 else 16
db = tempfile.mktemp(suffix=".db")
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]
app = create_app(Settings(db=db, clock="manual", port=port, log_level="warning"))
server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", loop="uvloop", http="httptools"))
res = {}
def drive():
    while not server.started: time.sleep(0.01)
    res.update(common.loadgen(port, common.SEND_PATH, headers={**common.AUTH, "Content-Type": "application/json"}, bodies=[common.send_body(i) for i in range(200)], conns=conns, duration=3, warmup=0.5))
    res["stats"] = dict(app.state.sim.store.stats)
    server.should_exit = True
threading.Thread(target=drive, daemon=True).start()
server.run(sockets=[sock])
print({k: res[k] for k in ("rps", "p50_ms", "p99_ms", "stats")})
