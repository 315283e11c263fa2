//! Seed: "Python IPC: A Symphony of Processes", section 6 (RPC): an `xmlrpc` server
//! registers `add(x, y)`; a client calls `proxy.add(5, 3)` and prints `Result: 8`.
//!
//! shmlane has no RPC layer yet (request/response RPC: issue 16). The nearest thing
//! is what one builds by hand from queues: a request queue shared by every client
//! (each request a `#[repr(C)]` `Pod` struct naming its caller and a call id) and one
//! reply queue per client. One server process, two client processes: the server gets
//! the request queue and both reply queues, each client the request queue and its own
//! reply queue. When both clients are done the parent closes the request queue, which
//! ends the server's `serve_forever` loop.
//!
//! ```text
//! cargo run --example seed_rpc_add
//! ```

use shmlane::queue::Queue;
use std::process::Command;
use std::time::Duration;

const REQUESTS: &str = "SEED_RPC_REQUESTS";
const CLIENTS: u32 = 2;

/// One call: which function, who asks (the reply queue's number), and the arguments.
#[derive(Clone, Copy, Debug, shmlane::Pod, shmlane::Zeroable)]
#[bytemuck(crate = "shmlane::bytemuck")]
#[repr(C)]
struct Call {
    function: u32, // 0 = add
    client: u32,
    id: u64,
    x: i64,
    y: i64,
}

/// One reply: the call id it answers and the result.
#[derive(Clone, Copy, Debug, shmlane::Pod, shmlane::Zeroable)]
#[bytemuck(crate = "shmlane::bytemuck")]
#[repr(C)]
struct Reply {
    id: u64,
    result: i64,
}

const ADD: u32 = 0;

fn reply_key(client: u32) -> String {
    format!("SEED_RPC_REPLY_{client}")
}

fn add(x: i64, y: i64) -> i64 {
    x + y
}

fn server() -> Result<(), Box<dyn std::error::Error>> {
    let mut requests = Queue::<Call>::from_env(REQUESTS)?;
    let mut replies: Vec<Queue<Reply>> = (0..CLIENTS)
        .map(|c| Queue::from_env(&reply_key(c)))
        .collect::<Result<_, _>>()?;
    let mut served = 0;
    for call in requests.iter() {
        // server.serve_forever(), until the queue is closed
        let result = match call.function {
            ADD => add(call.x, call.y),
            f => return Err(format!("no function {f}").into()),
        };
        replies[call.client as usize].put(Reply {
            id: call.id,
            result,
        })?;
        served += 1;
    }
    println!("server: served {served} calls");
    Ok(())
}

/// The client's `proxy.add(x, y)`.
struct Proxy {
    me: u32,
    next_id: u64,
    requests: Queue<Call>,
    replies: Queue<Reply>,
}

impl Proxy {
    fn add(&mut self, x: i64, y: i64) -> Result<i64, Box<dyn std::error::Error>> {
        self.next_id += 1;
        let id = self.next_id;
        let call = Call {
            function: ADD,
            client: self.me,
            id,
            x,
            y,
        };
        self.requests.put(call).map_err(|_| "the server is gone")?;
        let reply = self.replies.get_timeout(Duration::from_secs(10))?;
        assert_eq!(reply.id, id, "a reply to another call");
        Ok(reply.result)
    }
}

fn client(me: u32) -> Result<(), Box<dyn std::error::Error>> {
    let mut proxy = Proxy {
        me,
        next_id: 0,
        requests: Queue::from_env(REQUESTS)?,
        replies: Queue::from_env(&reply_key(me))?,
    };
    let result = proxy.add(5, 3)?;
    println!("client {me}: Result: {result}");
    assert_eq!(result, 8);
    for i in 0..100 {
        assert_eq!(
            proxy.add(i, i64::from(me) * 1000)?,
            i + i64::from(me) * 1000
        );
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("server") => return server(),
        Some("client") => return client(args.next().ok_or("client number")?.parse()?),
        _ => {}
    }
    let requests = Queue::<Call>::anonymous(16)?;
    let replies: Vec<Queue<Reply>> = (0..CLIENTS)
        .map(|_| Queue::anonymous(4))
        .collect::<Result<_, _>>()?;
    let exe = std::env::current_exe()?;

    let mut cmd = Command::new(&exe);
    cmd.arg("server");
    requests.inherit(&mut cmd, REQUESTS)?;
    for (c, r) in replies.iter().enumerate() {
        r.inherit(&mut cmd, &reply_key(c as u32))?;
    }
    let mut server = cmd.spawn()?;

    let mut clients = Vec::new();
    for (c, r) in replies.iter().enumerate() {
        let mut cmd = Command::new(&exe);
        cmd.args(["client", &c.to_string()]);
        requests.inherit(&mut cmd, REQUESTS)?;
        r.inherit(&mut cmd, &reply_key(c as u32))?;
        clients.push(cmd.spawn()?);
    }
    for mut c in clients {
        assert!(c.wait()?.success(), "a client failed");
    }
    requests.close()?; // stops the server's loop
    assert!(server.wait()?.success(), "the server failed");
    Ok(())
}
