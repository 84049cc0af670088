//! Batched Atari envs: shapes, seeding, autoreset, life loss, the step cap, sync = async, bad input.
//! ROMs required: `python3 scripts/install_roms.py`.

use myriad_atari::{AsyncAtariBatch, AtariBatch};
use myriad_envs::{EnvConfig, Error};

fn config(kv: &str) -> EnvConfig {
    kv.parse().unwrap()
}

/// A deterministic action sequence per env.
fn action(env: usize, step: usize, n: u32) -> u32 {
    (myriad_envs::rng::mix32((env * 7919 + step) as u32) >> 8) % n
}

fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

#[test]
fn observations_have_the_configured_shapes() {
    let cases = [
        ("ALE/Pong-v5", "", vec![210, 160, 3]),
        ("ALE/Pong-v5", "obs_type=grayscale", vec![210, 160]),
        ("PongNoFrameskip-v4", "obs_type=ram", vec![128]),
        ("ALE/Breakout-v5", "preset=atari100k", vec![4, 84, 84]),
        ("ALE/Breakout-v5", "preset=standard,grayscale_obs=False,frame_stack=2,screen_size=64", vec![2, 64, 64, 3]),
    ];
    for (id, kv, shape) in cases {
        let mut batch = AtariBatch::new(id, &config(kv), 2, 2, 0).unwrap();
        assert_eq!(batch.spec().observation_shape, shape, "{id} {kv}");
        let bytes: usize = shape.iter().product();
        batch.step(&[0, 1]).unwrap();
        assert_eq!(batch.observations().len(), 2 * bytes);
        assert!(batch.observations().iter().any(|&b| b != 0), "{id} {kv}: blank observations");
    }
    let pong = AtariBatch::new("ALE/Pong-v5", &EnvConfig::new(), 1, 1, 0).unwrap();
    assert_eq!(pong.spec().action_ids, vec![0, 1, 3, 4, 11, 12]);
    assert_eq!(pong.spec().observation_space(), "Box(0, 255, (210, 160, 3), uint8)");
    let full = AtariBatch::new("ALE/Pong-v5", &config("full_action_space=True"), 1, 1, 0).unwrap();
    assert_eq!(full.spec().action_ids.len(), 18);
}

#[test]
fn a_seed_fixes_the_run_and_envs_differ() {
    let kv = config("preset=atari100k,repeat_action_probability=0.25");
    let run = |seed| play(&mut AtariBatch::new("ALE/Breakout-v5", &kv, 3, 2, seed).unwrap(), 0, 40);
    let (a, b, c) = (run(5), run(5), run(6));
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Different no-op counts and ALE seeds: the three envs' observations are not all alike.
    let first: Vec<u64> = a[..3].iter().map(|r| r.0).collect();
    assert!(first[0] != first[1] || first[1] != first[2], "{first:?}");
}

#[test]
fn async_envs_follow_the_same_trajectories_as_sync_ones() {
    let kv = config("preset=standard");
    let (n, steps) = (4, 30);
    let mut sync = AtariBatch::new("ALE/Pong-v5", &kv, n, 2, 11).unwrap();
    let bytes = sync.spec().observation_bytes();
    let actions_n = sync.spec().action_ids.len() as u32;
    let mut expected: Vec<Vec<(u64, f32, bool, bool)>> = vec![Vec::new(); n];
    for i in 0..n {
        expected[i].push((hash(&sync.observations()[i * bytes..(i + 1) * bytes]), 0.0, false, false));
    }
    for s in 0..steps {
        let actions: Vec<u32> = (0..n).map(|i| action(i, s, actions_n)).collect();
        let out = sync.step(&actions).unwrap().clone();
        for i in 0..n {
            let obs = hash(&sync.observations()[i * bytes..(i + 1) * bytes]);
            expected[i].push((obs, out.reward[i], out.terminated[i], out.truncated[i]));
        }
    }

    let mut pool = AsyncAtariBatch::new("ALE/Pong-v5", &kv, n, 2, 2, 11).unwrap();
    pool.async_reset();
    let mut got: Vec<Vec<(u64, f32, bool, bool)>> = vec![Vec::new(); n];
    while got.iter().any(|g| g.len() <= steps) {
        let ids = pool.recv().unwrap().to_vec();
        let out = pool.outputs().clone();
        let (mut send_ids, mut send_actions) = (Vec::new(), Vec::new());
        for (k, &i) in ids.iter().enumerate() {
            let obs = hash(&pool.observations()[k * bytes..(k + 1) * bytes]);
            got[i].push((obs, out.reward[k], out.terminated[k], out.truncated[k]));
            let s = got[i].len() - 1;
            send_ids.push(i);
            send_actions.push(action(i, s, actions_n));
        }
        pool.send(&send_actions, &send_ids).unwrap();
    }
    for i in 0..n {
        assert_eq!(got[i][..=steps], expected[i][..], "env {i}");
    }
}

#[test]
fn life_loss_ends_training_episodes_but_not_the_game() {
    // Breakout has 5 lives; with FIRE pressed often a random agent loses lives within a few hundred steps.
    let mut batch = AtariBatch::new("ALE/Breakout-v5", &config("preset=atari100k,noop_max=0"), 1, 1, 3).unwrap();
    let lives = |b: &AtariBatch| b.env(0).emulator().lives();
    let start = lives(&batch);
    assert_eq!(start, 5);
    let mut step = 0;
    loop {
        let out = batch.step(&[(step % 4) as u32]).unwrap().clone();
        step += 1;
        assert!(step < 5_000, "no life lost");
        if out.terminated[0] {
            assert!(out.finished_games.is_empty(), "a lost life is not a finished game");
            assert_eq!(lives(&batch), start - 1, "the game goes on with one life fewer");
            break;
        }
    }
    // The whole game eventually ends and is reported once, with its unclipped score.
    loop {
        let out = batch.step(&[(step % 4) as u32]).unwrap().clone();
        step += 1;
        assert!(step < 50_000, "the game never ended");
        if let Some(&(env, score, length)) = out.finished_games.first() {
            assert_eq!(env, 0);
            assert!(out.terminated[0] && length as usize <= step && score >= 0.0);
            assert_eq!(lives(&batch), 5, "a new game starts after the last life");
            break;
        }
    }
}

#[test]
fn the_step_cap_truncates_and_keeps_the_final_observation() {
    let mut batch = AtariBatch::new("ALE/Pong-v5", &config("preset=standard,max_episode_steps=25"), 2, 2, 0).unwrap();
    let bytes = batch.spec().observation_bytes();
    for s in 1..=25 {
        let out = batch.step(&[1, 2]).unwrap().clone();
        assert_eq!(out.truncated, vec![s == 25; 2], "step {s}");
        assert!(!out.terminated.iter().any(|&t| t));
        if s == 25 {
            let games = &out.finished_games;
            assert_eq!(games, &vec![(0, games[0].1, 25), (1, games[1].1, 25)]);
            // The kept final frame stack differs from the new episode's first (a repeated reset frame).
            let (fin, obs) = (&batch.final_observations()[..bytes], &batch.observations()[..bytes]);
            assert_ne!(fin, obs);
            let frame = bytes / 4;
            assert!(obs.chunks(frame).all(|f| f == &obs[..frame]), "a reset fills the stack with its frame");
        }
    }
}

#[test]
fn rewards_are_clipped_for_the_learner_only() {
    // Seaquest scores 20 per kill; with clipping the learner sees 1 per scoring step.
    let mut clipped = AtariBatch::new("ALE/Seaquest-v5", &config("preset=atari100k,noop_max=0"), 1, 1, 1).unwrap();
    let mut raw = AtariBatch::new(
        "ALE/Seaquest-v5",
        &config("preset=standard,noop_max=0,terminal_on_life_loss=True,repeat_action_probability=0.0"),
        1,
        1,
        1,
    )
    .unwrap();
    let (mut sum_clipped, mut sum_raw) = (0.0, 0.0);
    let n = clipped.spec().action_ids.len() as u32;
    for s in 0..3_000 {
        let a = [action(0, s, n)];
        let c = clipped.step(&a).unwrap().clone();
        let r = raw.step(&a).unwrap().clone();
        let sign = (r.reward[0] > 0.0) as i32 as f32 - (r.reward[0] < 0.0) as i32 as f32;
        assert_eq!(c.reward[0], sign, "step {s}: {c:?} {r:?}");
        sum_clipped += c.reward[0];
        sum_raw += r.reward[0];
    }
    assert!(sum_clipped > 0.0 && sum_raw > sum_clipped, "{sum_clipped} {sum_raw}");
}

#[test]
fn bad_input_is_an_error() {
    let err = |r: Result<AtariBatch, Error>| r.err().expect("an error").to_string();
    assert!(err(AtariBatch::new("ALE/Pong-v5", &EnvConfig::new(), 0, 1, 0)).contains("num_envs"));
    assert!(err(AtariBatch::new("ALE/Pongg-v5", &EnvConfig::new(), 1, 1, 0)).contains("ALE/Pong-v5"));
    assert!(err(AtariBatch::new("ALE/Pong-v5", &config("mode=99"), 1, 1, 0)).contains("available"));
    assert!(
        err(AtariBatch::new("ALE/Freeway-v5", &config("preset=standard,fire_reset=True"), 1, 1, 0)).contains("FIRE")
    );
    assert!(AtariBatch::new("ALE/Breakout-v5", &config("preset=standard,fire_reset=True"), 1, 1, 0).is_ok());
    let mut batch = AtariBatch::new("ALE/Pong-v5", &EnvConfig::new(), 2, 1, 0).unwrap();
    assert!(matches!(batch.step(&[0, 6]), Err(Error::InvalidAction(_))));
    assert!(matches!(batch.step(&[0]), Err(Error::Shape(_))));
    let mut pool = AsyncAtariBatch::new("ALE/Pong-v5", &EnvConfig::new(), 2, 1, 1, 0).unwrap();
    assert!(pool.recv().is_err(), "recv before any work is an error, not a hang");
    assert!(AsyncAtariBatch::new("ALE/Pong-v5", &EnvConfig::new(), 2, 3, 1, 0).is_err());
}

/// Steps `batch` `steps` times from step index `from` of the [`action`] sequence; per step and env: the
/// observation's hash, reward, terminated, truncated.
fn play(batch: &mut AtariBatch, from: usize, steps: usize) -> Vec<(u64, f32, bool, bool)> {
    let n = batch.num_envs();
    let actions_n = batch.spec().action_ids.len() as u32;
    let bytes = batch.spec().observation_bytes();
    let mut record = Vec::new();
    for s in from..from + steps {
        let actions: Vec<u32> = (0..n).map(|i| action(i, s, actions_n)).collect();
        let out = batch.step(&actions).unwrap().clone();
        for i in 0..n {
            let obs = &batch.observations()[i * bytes..(i + 1) * bytes];
            record.push((hash(obs), out.reward[i], out.terminated[i], out.truncated[i]));
        }
    }
    record
}

#[test]
fn saved_states_continue_the_same_games() {
    // Without sticky actions (ALE 0.6 does not save the action a sticky draw repeats). Breakout with life loss
    // ends episodes mid-game and exercises no-op resets; Pong without preprocessing keeps raw RGB screens.
    for (id, kv, n) in [("ALE/Breakout-v5", "preset=atari100k", 3), ("ALE/Pong-v5", "repeat_action_probability=0.0", 2)]
    {
        let mut straight = AtariBatch::new(id, &config(kv), n, 2, 5).unwrap();
        play(&mut straight, 0, 150);
        // Through JSON, as a checkpoint keeps them.
        let json = serde_json::to_vec(&straight.save_states()).unwrap();
        let observations = straight.observations().to_vec();
        let expected = play(&mut straight, 150, 250);

        let mut resumed = AtariBatch::new(id, &config(kv), n, 1, 99).unwrap();
        assert_ne!(resumed.observations(), &observations[..], "{id}: a fresh batch starts elsewhere");
        resumed.load_states(&serde_json::from_slice::<Vec<myriad_atari::AtariEnvState>>(&json).unwrap()).unwrap();
        assert_eq!(resumed.observations(), &observations[..], "{id} {kv}");
        let continued = play(&mut resumed, 150, 250);
        assert_eq!(continued, expected, "{id} {kv}");
        if id.contains("Breakout") {
            assert!(expected.iter().any(|r| r.2), "{id}: some episode ended after the restore");
        }
    }
}

#[test]
fn foreign_or_corrupt_states_are_errors() {
    let standard = config("preset=standard");
    let mut pong = AtariBatch::new("ALE/Pong-v5", &standard, 2, 1, 0).unwrap();
    let states = pong.save_states();
    let breakout = AtariBatch::new("ALE/Breakout-v5", &standard, 2, 1, 0).unwrap();
    let err = pong.load_states(&breakout.save_states()).unwrap_err().to_string();
    assert!(err.contains("Breakout") && err.contains("Pong"), "{err}");
    let err = pong.load_states(&states[..1]).unwrap_err().to_string();
    assert!(err.contains("1 saved env states for a batch of 2"), "{err}");
    let mut flipped = states.clone();
    flipped[1].emulator.bytes[20] ^= 0x40;
    let err = pong.load_states(&flipped).unwrap_err().to_string();
    assert!(err.contains("corrupt"), "{err}");
    let mut short_stack = states.clone();
    short_stack[0].stack.pop();
    assert!(pong.load_states(&short_stack).unwrap_err().to_string().contains("does not fit"));
    let mut two_frames = AtariBatch::new("ALE/Pong-v5", &config("preset=standard,frame_stack=2"), 2, 1, 0).unwrap();
    assert!(two_frames.load_states(&states).unwrap_err().to_string().contains("does not fit"));
    // The intact states still load.
    pong.load_states(&states).unwrap();
}
