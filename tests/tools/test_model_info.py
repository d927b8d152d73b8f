"""model_info (src/tools/model_info.py) lists parameters and MACs, training and deployed form."""



def test_model_info_lists_training_and_deployed_sizes(capsys):
    from src.tools import model_info
    assert model_info.main(["ghostnet_050", "ghostnetv3_050", "repghostnet_050"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert rows[0] == "| model | parameters (1000 classes) | MACs at 224x224 |"
    assert rows[2:] == ["| ghostnet_050 | 2,587,292 | 42.3M |",
                        "| ghostnetv3_050 | 3,395,384 | 117.5M |",
                        "| ghostnetv3_050 (deployed) | 2,853,176 | 49.6M |",
                        "| repghostnet_050 | 2,313,968 | 43.3M |",
                        "| repghostnet_050 (deployed) | 2,306,528 | 43.3M |"]
