//! Online and target networks travel together (Stoix's `QsAndTarget`): the online network is trained, the target
//! network gives the bootstrap values and follows it by hard copies (DQN, Mnih et al. 2015: every
//! `target_network_update_freq` steps) or Polyak averaging (target ← τ·online + (1 − τ)·target, RLlib's `tau`).
//!
//! A clone of a burn module keeps its parameters' ids, so the target's parameters are matched to the online ones
//! by [`ParamId`], whatever the module's structure.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use std::collections::HashMap;

/// An online network and its target.
#[derive(Clone, Debug)]
pub struct OnlineTarget<M: Module + Clone> {
    /// The trained network.
    pub online: M,
    /// The bootstrap network.
    pub target: M,
}

impl<M: Module + Clone> OnlineTarget<M> {
    /// The pair with the target a copy of `online`.
    pub fn new(online: M) -> Self {
        let target = online.clone();
        OnlineTarget { online, target }
    }

    /// target ← online.
    pub fn hard_update(&mut self) {
        self.target = self.online.clone();
    }

    /// target ← τ·online + (1 − τ)·target, parameter by parameter (τ = 1 is a hard update). The new target
    /// parameters are fresh leaves, detached from the online network's graph.
    ///
    /// # Panics
    /// If the target has a parameter the online network lacks (it was not cloned from it).
    pub fn polyak_update(&mut self, tau: f64) {
        let mut online = Collect { params: HashMap::new() };
        self.online.visit(&mut online);
        let target = std::mem::replace(&mut self.target, self.online.clone());
        self.target = target.map(&mut Mix { online: online.params, tau });
    }
}

/// The online parameters, flattened, by id.
struct Collect {
    params: HashMap<ParamId, Tensor<1>>,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.params.insert(param.id, param.val().detach().reshape([-1]));
    }
}

/// Each target parameter moved toward its online twin.
struct Mix {
    online: HashMap<ParamId, Tensor<1>>,
    tau: f64,
}

impl ModuleMapper for Mix {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, target, mapper) = param.consume();
        let online = self.online.remove(&id).expect("the target's parameters are the online network's, cloned");
        let require_grad = target.is_require_grad();
        let online = online.reshape(target.dims()).to_device(&target.device());
        let mut mixed = (target.detach().mul_scalar(1.0 - self.tau) + online.mul_scalar(self.tau)).detach();
        if require_grad {
            mixed = mixed.require_grad();
        }
        Param::from_mapped_value(id, mixed, mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, TensorData};

    #[derive(Module, Debug)]
    struct Net {
        a: Linear,
        b: Vec<Linear>,
    }

    fn weights(net: &Net) -> Vec<f32> {
        let mut out = Vec::new();
        for layer in std::iter::once(&net.a).chain(&net.b) {
            out.extend(layer.weight.val().into_data().try_into_vec::<f32>().unwrap());
            out.extend(layer.bias.as_ref().unwrap().val().into_data().try_into_vec::<f32>().unwrap());
        }
        out
    }

    fn net(device: &Device) -> Net {
        Net { a: LinearConfig::new(3, 2).init(device), b: vec![LinearConfig::new(2, 2).init(device)] }
    }

    /// Sets every parameter to `value`.
    fn fill(net: Net, value: f32) -> Net {
        struct Fill(f32);
        impl ModuleMapper for Fill {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let v = self.0;
                param.map(|t| t.zeros_like().add_scalar(v))
            }
        }
        net.map(&mut Fill(value))
    }

    #[test]
    fn hard_update_copies_the_online_weights() {
        let device = Device::flex().autodiff();
        let mut pair = OnlineTarget::new(net(&device));
        assert_eq!(weights(&pair.target), weights(&pair.online));
        pair.online = fill(pair.online.clone(), 0.5);
        assert_ne!(weights(&pair.target), weights(&pair.online));
        pair.hard_update();
        assert_eq!(weights(&pair.target), weights(&pair.online));
    }

    #[test]
    fn polyak_mixes_by_tau() {
        let device = Device::flex();
        let mut pair = OnlineTarget::new(fill(net(&device), 2.0));
        pair.online = fill(pair.online.clone(), 10.0);
        pair.polyak_update(0.25);
        // 0.25·10 + 0.75·2
        assert!(weights(&pair.target).iter().all(|&w| w == 4.0));
        pair.polyak_update(0.25);
        // 0.25·10 + 0.75·4
        assert!(weights(&pair.target).iter().all(|&w| w == 5.5));
        // known, distinct weights: each element mixes with its own twin
        let values: Vec<f32> = (0..6).map(|k| k as f32).collect();
        pair.online.a.weight = Param::initialized(
            pair.online.a.weight.id,
            Tensor::from_data(TensorData::new(values.clone(), [3, 2]), &device),
        );
        pair.polyak_update(0.5);
        let a = pair.target.a.weight.val().into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(a, values.iter().map(|v| 0.5 * v + 0.5 * 5.5).collect::<Vec<_>>());
    }

    #[test]
    fn tau_one_is_a_hard_update() {
        let device = Device::flex().autodiff();
        let mut pair = OnlineTarget::new(net(&device));
        let require_grad = pair.online.a.weight.val().is_require_grad();
        pair.polyak_update(0.5);
        assert_eq!(pair.target.a.weight.val().is_require_grad(), require_grad, "the target keeps its grad flag");
        pair.online = fill(pair.online.clone(), 1.5);
        pair.online.b[0].bias = Some(Param::initialized(
            pair.online.b[0].bias.as_ref().unwrap().id,
            Tensor::from_data(TensorData::new(vec![-3.0f32, 7.0], [2]), &device),
        ));
        let mut hard = pair.clone();
        pair.polyak_update(1.0);
        hard.hard_update();
        assert_eq!(weights(&pair.target), weights(&hard.target));
        assert_eq!(weights(&pair.target), weights(&pair.online));
    }
}
